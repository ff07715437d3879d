"""`python -m needcast` is the `needcast` command."""

from needcast.cli import main

main()
