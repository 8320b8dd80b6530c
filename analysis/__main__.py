"""``python -m analysis estimate SPEC.json`` and ``python -m analysis small-area SPEC.json``"""

import os
import sys

# One BLAS thread, set before numpy loads: the commands' matrix products are small, and
# OpenBLAS's default of a thread per core cost a quarter of a second of start-up and spinning
# at 100,000 rows (0.80 s -> 0.58 s here). It also makes the last digit of a sum over many rows
# the same on every machine (OpenBLAS splits long dot products between its threads). An
# explicit setting in the environment wins.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

# Dispatched before analysis.cli is imported: small-area needs none of the estimation modules.
if sys.argv[1:2] == ["small-area"]:
    from analysis.small_area_cli import main as small_area_main

    raise SystemExit(small_area_main(sys.argv[2:]))

from analysis.cli import main  # noqa: E402 (numpy loads here, after the thread setting)

status = main()
# The answer is written: leave without tearing down numpy and scipy and freeing every object one
# by one, which nothing here needs and which cost a tenth of the command at 100,000 rows.
sys.stdout.flush()
sys.stderr.flush()
os._exit(status)
