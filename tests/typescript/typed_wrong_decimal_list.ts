// Wrong: a list of Decimals is answered as text, every digit kept, not numbers.
async function wrongDecimals(): Promise<number[]> {
  const prices: number[] = await serveract.actions.prices({ values: [1.5] });
  return prices;
}
wrongDecimals();
