// Wrong: the title is required.
serveract.actions.add_todo({});
