// Wrong: todo_id is bound, only the server signs it into a form.
serveract.actions.toggle_todo({ todo_id: 1 });
