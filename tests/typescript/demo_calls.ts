// Right calls of the demo's actions (examples/todo.py) through the
// declarations `python -m serveract typescript todo:app` prints:
// `tsc --noEmit --strict` accepts every line.

async function useTheDemo(): Promise<void> {
  const added = await serveract.actions.add_todo({ title: "Call the plumber" });
  console.log(added);
  const counts = await serveract.actions.stats({});
  console.log(counts);
  await serveract.actions.complete_all({});
  await serveract.actions.clear_done({});
  const fragment: string = await serveract.actions.add_todo_html({
    title: "Water the plants",
  });
  console.log(fragment.length);
  await serveract.actions.start_over({});
}

useTheDemo();
