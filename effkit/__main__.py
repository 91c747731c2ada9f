from effkit.cli import entry

entry()
