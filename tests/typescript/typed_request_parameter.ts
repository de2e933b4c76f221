// Wrong: the webob.Request parameter is the server's, not the client's.
serveract.actions.greet({ request: {} });
