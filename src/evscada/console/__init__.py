"""The web console: server-rendered pages on the REST API's HTTP port, live through server-sent events."""
