// Wrong: the demo has no such action.
serveract.actions.drop_everything({});
