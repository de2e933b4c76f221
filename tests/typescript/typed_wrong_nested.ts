// Wrong: a Point inside a Shape needs its y.
serveract.actions.shape({ shape: { name: "s", points: [{ x: 0 }] } });
