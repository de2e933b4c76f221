// Wrong: the title is text, not a number.
serveract.actions.add_todo({ title: 42 });
