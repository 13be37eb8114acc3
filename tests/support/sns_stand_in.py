"""A stand-in for Amazon SNS's Publish and Twilio's Messages API, for replaying the events whose answer
depends on the SMS provider. One server, one port; the path says which: Twilio's requests are under
`/2010-04-01/`, anything else is SNS.

SNS: it checks what SNS checks first (a Query API `Publish` with `PhoneNumber` and `Message`) and answers
as SNS does: `InvalidParameter` (HTTP 400) for a number in an unassigned country code (+999...),
`Throttling` (HTTP 400) for +998 numbers, a `PublishResponse` with a fresh MessageId otherwise.
Both errors quote the number, as SNS's messages can.

Twilio: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` checks HTTP Basic auth (user: the path's
AccountSid with password `AUTH_TOKEN` below, or user `API_KEY_SID` with password `API_KEY_SECRET`; else
401, code 20003), then the form: `To`, `Body`, `From` or `MessagingServiceSid` (both may come, as Twilio
allows), and `ValidityPeriod` if given (1 to 36000). It answers as Twilio does: 201 with the message
(`sid` SM + 32 hex digits, `status` `queued`, or `accepted` for a Messaging Service), or a Twilio error
`{"code", "message", "more_info", "status"}`:
  * Twilio's test numbers: To +15005550001 (or any To not in E.164) -> 400 21211 (invalid number),
    +15005550002 -> 400 21612 (cannot route), +15005550003 -> 400 21408 (region not enabled),
    +15005550004 -> 400 21610 (unsubscribed), +15005550009 -> 400 21614 (not SMS-capable);
    From +15005550001 -> 400 21212 (invalid From), +15005550007 -> 400 21606 (From not ours),
    +15005550008 -> 400 21611 (queue full);
  * To starting +1500555042 -> 429 20429 (throttled); To starting +1500555050 -> 503 20503 (Twilio down).
With good auth, `GET /2010-04-01/Accounts/{AccountSid}.json` answers the account (`status` `active`,
and `auth_token`, as Twilio does), `GET .../Balance.json` the balance, and `GET .../Messages.json` the
messages this run accepted.

AWS End User Messaging SMS (`pinpoint-sms-voice-v2`, JSON protocol: `POST /` with `X-Amz-Target:
PinpointSMSVoiceV2.<Operation>`): `SendTextMessage` needs a signed request with
`DestinationPhoneNumber`, `OriginationIdentity` and `MessageBody`, and answers by the destination:
+4470099001x opted out (ConflictException DESTINATION_PHONE_NUMBER_OPTED_OUT), +4470099002x throttled
(ThrottlingException), +4470099003x an internal error (HTTP 500), +4470099004x stalls for 10 s,
+4470099005x AccessDeniedException; otherwise a fresh `MessageId`. `DescribeAccountAttributes`
answers a sandboxed account. `GET /end-user-messaging/sent` lists what it accepted (destination,
origination identity, message id; never the text).

Salesforce Marketing Cloud: `POST /v2/token` (JSON) checks `grant_type` `client_credentials`,
`client_id` `SFMC_CLIENT_ID` and `client_secret` `SFMC_CLIENT_SECRET` below (else 401 `invalid_client`)
and answers a token of 1080 s whose `rest_instance_url` is this server; with that Bearer token,
`GET /messaging/v1/sms/definitions/{key}` answers an active definition for `SFMC_DEFINITION` (else 404,
errorcode 30003), and `POST /messaging/v1/sms/messages/{messageKey}` checks `definitionKey`,
`recipient.contactKey`, `recipient.to` (8 to 15 digits, else 400 errorcode 109121) and a messageKey
not used before (else 400 errorcode 109110), then answers 202 with `requestId` and `responses`; a `to`
starting 1500555042 gets 429 (errorcode 50100), one starting 1500555050 a 500. A missing or unknown
token gets 401 `Not Authorized`.

Vonage: `POST /sms/json`, form-encoded, checks `api_key` `VONAGE_API_KEY` and `api_secret`
`VONAGE_API_SECRET` below (else status 4), then `from`, `to` (7 to 15 digits) and `text` (else status
2 or 3), and answers as Vonage does, a `200` whatever the verdict, with one part in `messages`:
status `0` with a fresh `message-id`; for a `to` starting 1500555042 status 1 (throttled), for one
starting 1500555050 status 5 (internal error).

Telnyx (the http provider's recipe, events/*http*.env): `POST /v2/messages` checks `Authorization:
Bearer TELNYX_API_KEY` below (else 401, code 10009) and a JSON body with `from`, `to` (E.164) and
`text` (else 422, code 10004), and answers as Telnyx does: 200 with the message in `data` and a fresh
`data.id`; for a `to` starting +1500555042 a 429 (code 10011), for one starting +1500555050 a 500.

Infobip: `POST /sms/3/messages`, JSON, checks `Authorization: App INFOBIP_API_KEY` below (else 401,
an `ApiError` E401), then one message with `sender`, one destination whose `to` is 7 to 15 digits and
whose `messageId` is set, and `content.text` (else 400, an `ApiError` E400 naming the violations), and
answers as Infobip does, a `200` with the message's `status`: group 5 `REJECTED_DUPLICATE_MESSAGE_ID`
for a messageId it took before (idempotent sending), group 1 `PENDING_ACCEPTED` otherwise; a `to`
starting 1500555042 gets 429 (`ApiError` E429), one starting 1500555050 a 500.

Binds port 0 on 127.0.0.1 and prints the port on one line, then on a second line a port where nothing
listens; stops when its stdin closes.
"""
import base64
import email.utils
import http.server
import json
import os
import re
import socket
import sys
import threading
import urllib.parse
import uuid
from datetime import datetime, timezone

NS = "http://sns.amazonaws.com/doc/2010-03-31/"

# The test credentials the Twilio stand-in accepts (events/*twilio*.env use them). Not real ones.
AUTH_TOKEN = "7e577e577e577e577e577e577e577e57"
API_KEY_SID = "SK0123456789abcdef0123456789abcdef"
API_KEY_SECRET = "local-test-api-key-secret-000000"

# The Salesforce Marketing Cloud installed package and send definition it accepts (events/*sfmc*.env).
SFMC_CLIENT_ID = "sfmcclient0123456789abcdef"
SFMC_CLIENT_SECRET = "local-test-sfmc-client-secret-00"
SFMC_DEFINITION = "mosaic-otp"
VONAGE_API_KEY = "7e577e57"
VONAGE_API_SECRET = "local-test-vonage-secret"
TELNYX_API_KEY = "KEY0123456789local-test-telnyx"
INFOBIP_API_KEY = "local-test-infobip-key"
infobip_ids = set()
sfmc_tokens = set()
sfmc_keys = set()

TWILIO = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-fA-F]{32})(\.json|/Messages\.json|/Balance\.json)$")
# Twilio's test numbers and what Twilio answers for them (status 400).
REFUSED_TO = {
    "+15005550001": (21211, "The 'To' number {to} is not a valid phone number."),
    "+15005550002": (21612, "The 'To' phone number: {to}, is not currently reachable using the 'From' "
                            "phone number: {sender} via SMS."),
    "+15005550003": (21408, "Permission to send an SMS has not been enabled for the region indicated by "
                            "the 'To' number: {to}."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number {to} is not a valid mobile number"),
}
REFUSED_FROM = {
    "+15005550001": (21212, "The 'From' number {sender} is not a valid phone number, shortcode, or "
                            "alphanumeric sender ID."),
    "+15005550007": (21606, "The 'From' phone number provided ({sender}) is not a valid message-capable "
                            "Twilio phone number for this destination/account."),
    "+15005550008": (21611, "This 'From' number has exceeded the maximum number of queued messages"),
}

messages = []
messages_lock = threading.Lock()
# What End User Messaging accepted (no message text): GET /end-user-messaging/sent lists it.
eum_sent = []


class StandIn(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="text/xml", headers=()):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def read_form(self):
        length = int(self.headers.get("Content-Length", 0))
        return urllib.parse.parse_qs(self.rfile.read(length).decode())

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/messaging/"):
            return self.sfmc(path, None)
        if path == "/end-user-messaging/sent":
            with messages_lock:
                return self.answer(200, json.dumps(eum_sent), content_type="application/json")
        if not path.startswith("/2010-04-01/"):
            return self.send_error(501, "Unsupported method ('GET')")  # as before: SNS has no GET
        match = TWILIO.match(path)
        if not match:
            return self.twilio_error(404, 20404, f"The requested resource {path} was not found")
        self.twilio(match, {})

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        target = self.headers.get("X-Amz-Target", "")
        if target.startswith("PinpointSMSVoiceV2."):
            length = int(self.headers.get("Content-Length", 0))
            return self.end_user_messaging(target.split(".", 1)[1], json.loads(self.rfile.read(length) or b"{}"))
        if path == "/v2/token" or path.startswith("/messaging/"):
            length = int(self.headers.get("Content-Length", 0))
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                body = None
            return self.sfmc(path, body)
        if path == "/sms/json":
            return self.vonage(self.read_form())
        if path in ("/v2/messages", "/sms/3/messages"):
            length = int(self.headers.get("Content-Length", 0))
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                body = None
            return self.telnyx(body) if path == "/v2/messages" else self.infobip(body)
        if path.startswith("/2010-04-01/"):
            match = TWILIO.match(path)
            form = self.read_form()
            if not match:
                return self.twilio_error(404, 20404, f"The requested resource {path} was not found")
            return self.twilio(match, form)
        self.sns(self.read_form())

    # ---- Vonage ----------------------------------------------------------------------------------

    def vonage(self, form):
        field = lambda name: form.get(name, [""])[0]
        to = field("to")
        if field("api_key") != VONAGE_API_KEY or field("api_secret") != VONAGE_API_SECRET:
            part = {"status": "4", "error-text": "Bad Credentials"}
        elif not (field("from") and to and field("text")):
            part = {"status": "2", "error-text": "Missing from, to or text"}
        elif not (to.isdigit() and 7 <= len(to) <= 15):
            part = {"status": "3", "error-text": "Invalid to"}
        elif to.startswith("1500555042"):
            part = {"status": "1", "error-text": "Throttled"}
        elif to.startswith("1500555050"):
            part = {"status": "5", "error-text": "Internal Error"}
        else:
            part = {"to": to, "message-id": uuid.uuid4().hex[:16].upper(), "status": "0",
                    "remaining-balance": "15.53590000", "message-price": "0.03330000", "network": "23410"}
            if field("client-ref"):
                part["client-ref"] = field("client-ref")
        self.answer(200, json.dumps({"message-count": "1", "messages": [part]}), content_type="application/json")

    # ---- Telnyx ----------------------------------------------------------------------------------

    def telnyx(self, body):
        def error(status, code, title):
            errors = {"errors": [{"code": code, "title": title, "detail": title}]}
            self.answer(status, json.dumps(errors), content_type="application/json")
        if self.headers.get("Authorization") != f"Bearer {TELNYX_API_KEY}":
            return error(401, "10009", "Authentication failed")
        fields = body if isinstance(body, dict) else {}
        to = fields.get("to")
        if not (fields.get("from") and fields.get("text") and isinstance(to, str)
                and re.fullmatch(r"\+[1-9][0-9]{6,14}", to)):
            return error(422, "10004", "Missing required parameter")
        if to.startswith("+1500555042"):
            return error(429, "10011", "Too many requests")
        if to.startswith("+1500555050"):
            return error(500, "10007", "Unexpected error")
        message = {"record_type": "message", "direction": "outbound", "id": str(uuid.uuid4()), "type": "SMS",
                   "from": {"phone_number": fields["from"]}, "to": [{"phone_number": to, "status": "queued"}],
                   "text": fields["text"], "parts": 1, "errors": []}
        self.answer(200, json.dumps({"data": message}), content_type="application/json")
    # ---- Infobip ---------------------------------------------------------------------------------

    def infobip_error(self, status, code, description, violations=()):
        self.answer(status, json.dumps({
            "errorCode": code, "description": description, "action": "",
            "violations": [{"property": p, "violation": v} for p, v in violations],
            "resources": []}), content_type="application/json")

    def infobip(self, body):
        if self.headers.get("Authorization", "") != f"App {INFOBIP_API_KEY}":
            return self.infobip_error(401, "E401", "Unauthorized.")
        json_body = self.headers.get("Content-Type", "").startswith("application/json")
        messages = body.get("messages") if json_body and isinstance(body, dict) else None
        message = messages[0] if isinstance(messages, list) and len(messages) == 1 else {}
        destinations = message.get("destinations") if isinstance(message, dict) else None
        destination = destinations[0] if isinstance(destinations, list) and len(destinations) == 1 else {}
        to = destination.get("to") if isinstance(destination, dict) else None
        message_id = destination.get("messageId") if isinstance(destination, dict) else None
        text = (message.get("content") or {}).get("text") if isinstance(message, dict) else None
        violations = []
        if not (isinstance(message, dict) and isinstance(message.get("sender"), str) and message["sender"]):
            violations.append(("messages[0].sender", "must be set"))
        if not (isinstance(to, str) and to.isdigit() and 7 <= len(to) <= 15):
            violations.append(("messages[0].destinations[0].to", "must be 7 to 15 digits"))
        if not (isinstance(message_id, str) and message_id):
            violations.append(("messages[0].destinations[0].messageId", "must be set"))
        if not (isinstance(text, str) and text):
            violations.append(("messages[0].content.text", "must not be empty"))
        if violations:
            return self.infobip_error(400, "E400", "Request cannot be processed.", violations)
        if to.startswith("1500555042"):
            return self.infobip_error(429, "E429", "Too many requests.")
        if to.startswith("1500555050"):
            return self.infobip_error(500, "E500", "Something went wrong.")
        with messages_lock:
            repeated = message_id in infobip_ids
            infobip_ids.add(message_id)
        if repeated:
            status = {"groupId": 5, "groupName": "REJECTED", "id": 23, "name": "REJECTED_DUPLICATE_MESSAGE_ID",
                      "description": "Rejected due to duplicate message ID"}
        else:
            status = {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED",
                      "description": "Message sent to next instance"}
        self.answer(200, json.dumps({"bulkId": uuid.uuid4().hex, "messages": [
            {"messageId": message_id, "status": status, "destination": to, "details": {"messageCount": 1}}]}),
            content_type="application/json")

    # ---- Salesforce Marketing Cloud --------------------------------------------------------------

    def sfmc_answer(self, status, body):
        self.answer(status, json.dumps(body), content_type="application/json")

    def sfmc_error(self, status, code, message):
        self.sfmc_answer(status, {"message": message, "errorcode": code, "documentation": ""})

    def sfmc(self, path, body):
        json_body = self.headers.get("Content-Type", "").startswith("application/json")
        if path == "/v2/token":
            if not json_body or not isinstance(body, dict) or body.get("grant_type") != "client_credentials" \
                    or body.get("client_id") != SFMC_CLIENT_ID or body.get("client_secret") != SFMC_CLIENT_SECRET:
                return self.sfmc_answer(401, {"error": "invalid_client", "error_description": "Invalid client ID. Use "
                                              "the client ID in Marketing Cloud Installed Packages.",
                                              "error_uri": "https://developer.salesforce.com/docs"})
            token = f"sfmc-{uuid.uuid4().hex}"
            with messages_lock:
                sfmc_tokens.add(token)
            # REST calls come back the way this one came: a Host other than this server's own
            # address is a TLS front (tests/support/tls_proxy.py) relaying to it.
            host, port = self.server.server_address[:2]
            own = f"{host}:{port}"
            came_by = self.headers.get("Host", own)
            rest = f"http://{own}/" if came_by == own else f"https://{came_by}/"
            return self.sfmc_answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": 1080,
                                          "scope": "sms_read sms_write sms_send", "rest_instance_url": rest})
        auth = self.headers.get("Authorization", "")
        with messages_lock:
            known = auth.startswith("Bearer ") and auth[len("Bearer "):] in sfmc_tokens
        if not known:
            return self.sfmc_answer(401, {"documentation": "", "errorcode": 0, "message": "Not Authorized"})
        definitions = "/messaging/v1/sms/definitions/"
        if self.command == "GET" and path.startswith(definitions):
            if path[len(definitions):] != SFMC_DEFINITION:
                return self.sfmc_error(404, 30003, "MCMS_UTM_Runtime_ObjectNotFound")
            return self.sfmc_answer(200, {"definitionKey": SFMC_DEFINITION, "status": "Active",
                                          "content": {"message": "%%message%%"}})
        sends = "/messaging/v1/sms/messages/"
        if self.command != "POST" or not path.startswith(sends) or not json_body or not isinstance(body, dict):
            return self.sfmc_error(404, 30003, "ObjectNotFound")
        key = path[len(sends):]
        recipient = body.get("recipient") or {}
        to = recipient.get("to")
        if body.get("definitionKey") != SFMC_DEFINITION:
            return self.sfmc_error(400, 109111, "MCMS_UTM_Validation_InvalidValue_definitionKey")
        if not recipient.get("contactKey"):
            return self.sfmc_error(400, 109105, "MCMS_UTM_Validation_MissingRequiredField_subscriberKey")
        if not isinstance(to, str) or not to.isdigit() or not 8 <= len(to) <= 15:
            return self.sfmc_error(400, 109121, "MCMS_UTM_Validation_InvalidValue_to")
        if not 1 <= len(key) <= 100:
            return self.sfmc_error(400, 109108, "MCMS_UTM_Validation_InvalidValue_messageKey")
        if to.startswith("1500555042"):
            return self.sfmc_error(429, 50100, "Rate limit exceeded")
        if to.startswith("1500555050"):
            return self.sfmc_error(500, 0, "Internal error")
        with messages_lock:
            if key in sfmc_keys:
                return self.sfmc_error(400, 109110, "MCMS_UTM_Validation_DuplicateMessageKey: messageKey reused "
                                       "within the past 2 days")
            sfmc_keys.add(key)
        self.sfmc_answer(202, {"requestId": str(uuid.uuid4()), "errorcode": 0, "responses": [{"messageKey": key}]})

    # ---- End User Messaging ----------------------------------------------------------------------

    def eum_answer(self, status, body):
        self.answer(status, json.dumps(body), content_type="application/x-amz-json-1.0")

    def eum_error(self, status, kind, message, reason=None):
        body = {"__type": kind, "Message": message}
        if reason:
            body["Reason"] = reason
        self.eum_answer(status, body)

    def end_user_messaging(self, operation, body):
        if not self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 "):
            return self.eum_error(403, "AccessDeniedException", "Missing Authentication Token")
        if operation == "DescribeAccountAttributes":
            return self.eum_answer(200, {"AccountAttributes": [{"Name": "ACCOUNT_TIER", "Value": "SANDBOXED"}]})
        if operation != "SendTextMessage":
            return self.eum_error(400, "ValidationException", f"{operation} is not supported here", "UNKNOWN_OPERATION")
        to = body.get("DestinationPhoneNumber", "")
        if not to or not body.get("OriginationIdentity") or not body.get("MessageBody"):
            return self.eum_error(400, "ValidationException", "DestinationPhoneNumber, OriginationIdentity and "
                                  "MessageBody are required", "MISSING_PARAMETER")
        if to.startswith("+4470099001"):
            return self.eum_error(400, "ConflictException", f"Conflict: {to} has opted out",
                                  "DESTINATION_PHONE_NUMBER_OPTED_OUT")
        if to.startswith("+4470099002"):
            return self.eum_error(400, "ThrottlingException", "Rate exceeded")
        if to.startswith("+4470099003"):
            return self.eum_error(500, "InternalServerException", "Internal failure")
        if to.startswith("+4470099004"):
            threading.Event().wait(10)
        if to.startswith("+4470099005"):
            return self.eum_error(400, "AccessDeniedException", "not authorized to perform sms-voice:SendTextMessage")
        message_id = str(uuid.uuid4())
        with messages_lock:
            eum_sent.append({"DestinationPhoneNumber": to, "MessageId": message_id,
                             "OriginationIdentity": body["OriginationIdentity"]})
        self.eum_answer(200, {"MessageId": message_id})

    # ---- SNS -------------------------------------------------------------------------------------

    def sns_error(self, status, code, message):
        self.answer(status, f'<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
                            f"<Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")

    def sns(self, form):
        field = lambda name: form.get(name, [""])[0]
        if field("Action") == "GetSMSSandboxAccountStatus":
            # A new account: in the SMS sandbox (the gateway warns about it at start-up).
            return self.answer(200, f'<GetSMSSandboxAccountStatusResponse xmlns="{NS}"><GetSMSSandboxAccountStatusResult>'
                                    "<IsInSandbox>true</IsInSandbox></GetSMSSandboxAccountStatusResult>"
                                    f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
                                    "</GetSMSSandboxAccountStatusResponse>")
        if field("Action") != "Publish":
            return self.sns_error(400, "InvalidAction", f"{field('Action')} is not supported here")
        if not self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 "):
            return self.sns_error(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
        phone, message = field("PhoneNumber"), field("Message")
        if not phone or not message:
            return self.sns_error(400, "InvalidParameter", "Invalid parameter: PhoneNumber and Message are required")
        if phone.startswith("+999"):
            return self.sns_error(400, "InvalidParameter",
                                  f"Invalid parameter: PhoneNumber Reason: {phone} is not valid to publish to")
        if phone.startswith("+998"):
            return self.sns_error(400, "Throttling", f"Rate exceeded for {phone}")
        self.answer(200, f'<PublishResponse xmlns="{NS}"><PublishResult><MessageId>{uuid.uuid4()}</MessageId>'
                         f"</PublishResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
                         "</ResponseMetadata></PublishResponse>")

    # ---- Twilio ----------------------------------------------------------------------------------

    def twilio_json(self, status, value, headers=()):
        self.answer(status, json.dumps(value), "application/json; charset=utf-8", headers)

    def twilio_error(self, status, code, message, headers=()):
        self.twilio_json(status, {"code": code, "message": message,
                                  "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
                         headers)

    def authorized(self, account_sid):
        scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except ValueError:
            return False
        return scheme.lower() == "basic" and (
            (user == account_sid and password == AUTH_TOKEN)
            or (user == API_KEY_SID and password == API_KEY_SECRET))

    def twilio(self, match, form):
        account_sid, resource = match.groups()
        if not self.authorized(account_sid):
            return self.twilio_error(401, 20003, "Authenticate",
                                     [("WWW-Authenticate", 'Basic realm="Twilio API"')])
        if self.command == "GET" and resource == "/Balance.json":
            return self.twilio_json(200, {"account_sid": account_sid, "balance": "20.00", "currency": "USD"})
        if self.command == "GET" and resource == ".json":
            return self.twilio_json(200, {
                "sid": account_sid, "owner_account_sid": account_sid, "friendly_name": "Stand-in account",
                "status": "active", "type": "Full", "auth_token": AUTH_TOKEN, "date_created": now(),
                "date_updated": now(), "uri": f"/2010-04-01/Accounts/{account_sid}.json"})
        if self.command == "GET":
            with messages_lock:
                listed = [m for m in reversed(messages) if m["account_sid"] == account_sid]
            return self.twilio_json(200, {"messages": listed, "page": 0, "page_size": 50,
                                          "uri": f"/2010-04-01/Accounts/{account_sid}/Messages.json"})
        if resource != "/Messages.json":
            return self.twilio_error(405, 20004, "Method not allowed")
        if not self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            form = {}
        field = lambda name: form.get(name, [""])[0]
        to, body, sender, service = field("To"), field("Body"), field("From"), field("MessagingServiceSid")
        validity = field("ValidityPeriod")
        if not to:
            return self.twilio_error(400, 21604, "A 'To' phone number is required.")
        if not sender and not service:
            return self.twilio_error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return self.twilio_error(400, 21602, "Message body is required.")
        if service and not re.fullmatch(r"MG[0-9a-fA-F]{32}", service):
            return self.twilio_error(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        if validity and not (validity.isdigit() and 1 <= int(validity) <= 36000):
            return self.twilio_error(400, 21624, "Invalid validity period value")
        if not re.fullmatch(r"\+[1-9][0-9]{1,14}", to):
            return self.twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to.startswith("+1500555042"):
            return self.twilio_error(429, 20429, "Too Many Requests")
        if to.startswith("+1500555050"):
            return self.twilio_error(503, 20503, "Service Unavailable")
        for number, table in ((sender, REFUSED_FROM), (to, REFUSED_TO)):
            if number in table:
                code, message = table[number]
                return self.twilio_error(400, code, message.format(to=to, sender=sender))
        sid = "SM" + uuid.uuid4().hex
        message = {
            "account_sid": account_sid, "api_version": "2010-04-01", "body": body,
            "date_created": now(), "date_sent": None, "date_updated": now(), "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": sender or None,
            "messaging_service_sid": service or None, "num_media": "0",
            "num_segments": str(max(1, -(-len(body) // 153))), "price": None, "price_unit": "USD",
            "sid": sid, "status": "queued" if sender and not service else "accepted",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"},
            "to": to, "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
        }
        with messages_lock:
            messages.append(message)
        self.twilio_json(201, message)


def now():
    return email.utils.format_datetime(datetime.now(timezone.utc).replace(microsecond=0))


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
# A port held bound but not listening while this runs: connections to it are refused, and no other
# process can take it meanwhile. For the events that need an unreachable endpoint.
closed = socket.socket()
closed.bind(("127.0.0.1", 0))
print(server.server_address[1], flush=True)
print(closed.getsockname()[1], flush=True)
# Nothing more goes to stdout: the test may close its end of the pipe once it has read the above.
sys.stdout = open(os.devnull, "w")
sys.stdin.read()
server.shutdown()
