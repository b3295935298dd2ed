"""``python -m promptlab_nb``: the ``promptlab`` command."""

from promptlab_nb.cli import main

if __name__ == "__main__":
    main()
