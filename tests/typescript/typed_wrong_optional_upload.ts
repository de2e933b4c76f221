// Wrong: actions.NAME sends JSON, where a Blob is {} (a 422): an optional
// upload can only be left out, or null.
serveract.actions.maybe_upload({ note: "n", file: new Blob(["abc"]) });
