"""`python -m rigor ARGS…`: the rigor command line."""

from rigor import _main

_main()
