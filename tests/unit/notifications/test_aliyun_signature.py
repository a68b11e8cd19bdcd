"""The RPC signature against Alibaba Cloud's documented example, and its encoding rules."""

from __future__ import annotations

from backend.notifications.aliyun import canonical_query, percent_encode, sign, string_to_sign

# The example of the "Signature mechanism" page (help.aliyun.com/document_detail/145075):
# DescribeRegions signed with AccessKeyId testid and AccessKeySecret testsecret.
DOCUMENTED = {
    "AccessKeyId": "testid",
    "Action": "DescribeRegions",
    "Format": "XML",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
    "SignatureVersion": "1.0",
    "TimeStamp": "2016-02-23T12:46:24Z",
    "Version": "2014-05-26",
}


def test_signature_matches_the_documented_example():
    assert sign("testsecret", "GET", DOCUMENTED) == "CT9X0VtwR86fNWSnsc6v8YGOjuE="


def test_string_to_sign_encodes_the_canonical_query_a_second_time():
    text = string_to_sign("GET", DOCUMENTED)

    assert text.startswith("GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26")
    assert "TimeStamp%3D2016-02-23T12%253A46%253A24Z" in text


def test_the_signature_parameter_itself_is_not_signed():
    with_signature = {**DOCUMENTED, "Signature": "anything"}

    assert sign("testsecret", "GET", with_signature) == sign("testsecret", "GET", DOCUMENTED)


def test_percent_encoding_follows_rfc3986_not_form_encoding():
    assert percent_encode("a b*c~d") == "a%20b%2Ac~d"
    assert percent_encode("自助") == "%E8%87%AA%E5%8A%A9"
    assert canonical_query({"b": "2", "a": "x y"}) == "a=x%20y&b=2"


def test_post_and_get_sign_differently():
    assert sign("testsecret", "POST", DOCUMENTED) != sign("testsecret", "GET", DOCUMENTED)
