// Wrong: a Color is "red", "green" or "blue" (an Enum).
serveract.actions.color({ value: "purple" });
