// Wrong: the pair is [int, str]: its second item is text.
serveract.actions.pair({ value: [1, 2] });
