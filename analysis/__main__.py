"""``python -m analysis estimate SPEC.json``"""

from analysis.cli import main

raise SystemExit(main())
