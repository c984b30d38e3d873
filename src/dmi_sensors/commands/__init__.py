"""One module per ``dmi-sensors`` sub-command: thin argument parsing over the library."""
