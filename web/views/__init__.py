"""What the pages show: the values of a comparison, a sync's state, the friend a code names,
the dashboard's shared pieces, the listener chart, and the Jinja renderer."""
