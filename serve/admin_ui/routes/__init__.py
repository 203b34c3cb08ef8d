"""The admin UI's pages, one module per domain, each with its own router (assembled in `serve.admin_ui.app`)."""
