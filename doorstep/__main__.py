"""`python -m doorstep` runs the command line, for machines without the script."""

from doorstep.cli.main import main

main(prog_name="doorstep")
