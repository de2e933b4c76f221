// Wrong: add_todo takes no "due".
serveract.actions.add_todo({ title: "Call the plumber", due: "today" });
