// Right calls of tests/typed_actions.py through its generated declarations:
// `tsc --noEmit --strict` accepts every line, and the annotations say what
// each hint becomes in TypeScript.

async function useEveryHint(): Promise<void> {
  const text: string = await serveract.actions.text({ value: "a" });
  const size: number = await serveract.actions.raw({ data: "bytes" });
  const whole: number = await serveract.actions.integer({ value: 1 });
  const real: number = await serveract.actions.number({ value: 1.5 });
  const flag: boolean = await serveract.actions.flag({ value: true });
  const money: string = await serveract.actions.money({ amount: "1.50" });
  await serveract.actions.money({ amount: 2.5 }); // a Decimal may come as a number
  const day: string = await serveract.actions.day({ value: "2024-02-29" });
  const moment: string = await serveract.actions.moment({
    value: "2024-02-29T10:00:00Z",
  });
  const ident: string = await serveract.actions.ident({
    value: "12345678-1234-5678-1234-567812345678",
  });
  const color: "red" | "green" | "blue" = await serveract.actions.color({
    value: "green",
  });
  const priority: 1 | 2 = await serveract.actions.priority({ value: 2 });
  const rank: 1 | 2 = await serveract.actions.rank({ value: 1 });
  const mixed: string = await serveract.actions.mixed({ value: true });
  const sequence: number[] = await serveract.actions.sequence({ values: [1] });
  const nodes: number = await serveract.actions.tree({
    root: { name: "r", children: [{ name: "c", children: [] }, { name: "d" }] },
  });
  const positional: string = await serveract.actions.positional({ x: 1 });
  const fast: string = await serveract.actions.choice({ mode: "fast" });
  const slow: string = await serveract.actions.choice({ mode: "slow", level: 3 });
  const maybe: number | null = await serveract.actions.maybe({});
  const nullable: number | null = await serveract.actions.nullable({ value: null });
  const either: number | string = await serveract.actions.either({ value: "a" });
  const items: number[] = await serveract.actions.items({ values: [1, 2] });
  const pair: [number, string] = await serveract.actions.pair({ value: [1, "a"] });
  const many: number[] = await serveract.actions.many({ values: [1, 2.5] });
  const prices: string[] = await serveract.actions.prices({ values: [1.5, "2"] });
  const unique: string[] = await serveract.actions.unique({ values: ["a"] });
  const table: Record<string, number> = await serveract.actions.table({
    values: { a: 1 },
  });
  await serveract.actions.by_id({ values: { 1: 2 } });
  const shape = await serveract.actions.shape({
    shape: {
      name: "s",
      points: [{ x: 0, y: 1.5 }],
      tags: [{ name: "t", color: "blue" }],
      origin: null,
    },
  });
  const name: string = shape.name;
  // An answer holds every field, those with defaults too.
  const tags: Serveract.Tag_returns[] = shape.tags;
  const tagged: "red" | "green" | "blue" = shape.tags[0].color;
  const x: number = shape.points[0].x;
  const area: number = await serveract.actions["shapes.area"]({
    points: [{ x: 0, y: 0 }, { x: 1, y: 0 }, { x: 0, y: 1 }],
  });
  const note: string = await serveract.actions.maybe_upload({ note: "n" });
  await serveract.actions.defaults({ a: 1 });
  await serveract.actions.defaults({ a: 1, b: "x", c: [1], d: 2 });
  await serveract.actions.options({ name: "n", x: 1, y: 2 });
  await serveract.actions.loose({ name: "n", anything: [1, "a"] });
  const greeting: string = await serveract.actions.greet({});
  const nothing: null = await serveract.actions.nothing({});
  const html: string = await serveract.actions.page({ title: "t" });
  console.log(text, size, whole, real, flag, money, day, moment, ident, color);
  console.log(priority, fast, slow, maybe, nullable, either, items, pair, many);
  console.log(rank, mixed, sequence, nodes, positional);
  console.log(prices, tags, tagged, unique, table, name, x, area, note, greeting, nothing, html);
}

useEveryHint();
