// A file through serveract.actions: tsc may accept this call only if the
// client can send it (test_an_upload_is_typed_exactly_when_the_client_sends_it).
serveract.actions.upload({ note: "n", file: new Blob(["abc"]) });
