"""``python -m analysis estimate SPEC.json`` and ``python -m analysis small-area SPEC.json``"""

import sys

# Dispatched before analysis.cli is imported: small-area needs neither pandas nor scipy.
if sys.argv[1:2] == ["small-area"]:
    from analysis.small_area_cli import main as small_area_main

    raise SystemExit(small_area_main(sys.argv[2:]))

from analysis.cli import main

raise SystemExit(main())
