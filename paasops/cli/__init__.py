"""The typer command line: parses arguments, calls the library, prints. The only typer user."""
