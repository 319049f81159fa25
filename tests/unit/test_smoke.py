from messages_app import selectors


def test_posted_message_reads_back_with_its_body(make_message):
    message = make_message(body="Hi <there>\n")
    fetched = selectors.message_get(message_id=message.pk)
    assert selectors.message_body(fetched) == "Hi <there>\n"
    assert fetched.version == 1
