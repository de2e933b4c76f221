// Wrong: integer answers a number, not text.
async function wrongAnswer(): Promise<string> {
  const text: string = await serveract.actions.integer({ value: 1 });
  return text;
}
wrongAnswer();
