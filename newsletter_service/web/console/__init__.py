"""The publisher's console: log-in, newsletters, readers, imports and exports."""
