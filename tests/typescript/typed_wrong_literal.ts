// Wrong: mode is "fast" or "slow" (a Literal).
serveract.actions.choice({ mode: "medium" });
