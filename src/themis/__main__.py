"""``python -m themis`` runs the command line."""

from themis.cli import main

main()
