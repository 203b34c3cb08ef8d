"""`python -m transform`: the transform once, as a process of its own (see transform.process)."""

from transform.process import main

raise SystemExit(main())
