"""The command-line interface. Only this layer reads paths and writes files; everything below it
takes data (records, arrays) and returns data."""
