"""Checks what template.yaml promises operators, beyond what cfn-lint can know: each alarm watches the
metric that sees its failure, with the condition that fires on it; the function's permissions are
the ones its code uses, and no more; the idempotency table has the schema the code writes, the
function's environment carries the settings, and the rules refuse what cannot work (a public Function
URL without a concurrency cap, among others). Run by scripts/test with the .venv's Python (cfn-lint's
YAML reader understands CloudFormation's short tags). Prints one line per failure and exits 1, or says
ok.
"""
import json
import os
import re
import sys

from cfnlint.decode import cfn_yaml

template = cfn_yaml.load(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
resources = template["Resources"]
failures = []


def expect(condition, message):
    if not condition:
        failures.append(message)


def alarm(name):
    resource = resources.get(name)
    expect(resource is not None and resource["Type"] == "AWS::CloudWatch::Alarm", f"{name}: no such alarm")
    return resource["Properties"] if resource else {}


def metrics_of(props):
    """(namespace, metric name, dimension names) of an alarm, plain or metric math."""
    if "MetricName" in props:
        dims = tuple(d["Name"] for d in props.get("Dimensions", []))
        return [(props["Namespace"], props["MetricName"], dims)]
    found = []
    for query in props.get("Metrics", []):
        stat = query.get("MetricStat")
        if stat:
            metric = stat["Metric"]
            found.append((metric["Namespace"], metric["MetricName"], tuple(d["Name"] for d in metric.get("Dimensions", []))))
    return found


def parameter_values(**overrides):
    """Every parameter's value as CloudFormation sees it (a CommaDelimitedList as a list, so the empty
    default is [""]), defaults unless overridden."""
    values = {}
    for name, parameter in template["Parameters"].items():
        value = overrides.get(name, parameter.get("Default", ""))
        if parameter["Type"] == "CommaDelimitedList" and isinstance(value, str):
            value = [member.strip() for member in value.split(",")]
        values[name] = value
    return values


def evaluate(node, values):
    """A condition or rule expression under these parameter values: Ref, Condition, Fn::Equals, Fn::Not,
    Fn::And, Fn::Or, Fn::Contains, Fn::EachMemberEquals, Fn::Join."""
    if isinstance(node, dict) and len(node) == 1:
        (function, argument), = node.items()
        if function == "Ref":
            return values[argument]
        if function == "Condition":
            return evaluate(template["Conditions"][argument], values)
        if function == "Fn::Equals":
            left, right = (evaluate(a, values) for a in argument)
            return left == right if isinstance(left, list) or isinstance(right, list) else str(left) == str(right)
        if function == "Fn::Not":
            return not evaluate(argument[0], values)
        if function == "Fn::And":
            return all(evaluate(a, values) for a in argument)
        if function == "Fn::Or":
            return any(evaluate(a, values) for a in argument)
        if function == "Fn::Contains":
            return str(evaluate(argument[1], values)) in [str(m) for m in evaluate(argument[0], values)]
        if function == "Fn::EachMemberEquals":
            return all(str(m) == str(evaluate(argument[1], values)) for m in evaluate(argument[0], values))
        if function == "Fn::Join":
            return argument[0].join(str(m) for m in evaluate(argument[1], values))
        raise ValueError(f"cannot evaluate {function}")
    if isinstance(node, list):
        return [evaluate(item, values) for item in node]
    return node


def condition_holds(name, **overrides):
    return bool(evaluate(template["Conditions"][name], parameter_values(**overrides)))


def rules_accept(**overrides):
    """Whether every rule accepts these parameter values (the others at their defaults)."""
    values = parameter_values(**overrides)
    for rule in template.get("Rules", {}).values():
        if "RuleCondition" in rule and not evaluate(rule["RuleCondition"], values):
            continue
        if not all(evaluate(a["Assert"], values) for a in rule.get("Assertions", [])):
            return False
    return True


# `check_template.py template.yaml --samconfig FILE`: the file `configure` wrote, read by the SAM CLI's
# own code (its samconfig reader and its parameter_overrides parser), is a deploy this template
# takes: a stack name and a region, the capability the stack needs, every parameter one the template
# has, each value within the parameter's type, allowed values, length, range and pattern (Python's
# re, lookaheads included), and every rule satisfied. Prints what SAM read, as JSON, for the test.
if "--samconfig" in sys.argv:
    from samcli.cli.types import CfnParameterOverridesType
    from samcli.lib.config.samconfig import SamConfig

    path = os.path.abspath(sys.argv[sys.argv.index("--samconfig") + 1])
    deploy = SamConfig(os.path.dirname(path), os.path.basename(path)).get_all(["deploy"], "parameters")
    overrides = CfnParameterOverridesType().convert(deploy.get("parameter_overrides", ""), None, None)
    expect(re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,55}", deploy.get("stack_name", "")), "samconfig: no usable stack_name")
    expect(re.fullmatch(r"[a-z]{2}(-[a-z]+)+-[0-9]+", deploy.get("region", "")), "samconfig: no usable region")
    expect(deploy.get("capabilities") == "CAPABILITY_IAM" and deploy.get("resolve_s3") is True,
           "samconfig: sam deploy needs capabilities = CAPABILITY_IAM and resolve_s3 = true")
    for name, value in overrides.items():
        parameter = template["Parameters"].get(name)
        expect(parameter is not None, f"samconfig: {name} is no parameter of the template")
        if parameter is None:
            continue
        members = value.split(",") if parameter["Type"] == "CommaDelimitedList" else [value]
        if "AllowedValues" in parameter:
            expect(value in [str(v) for v in parameter["AllowedValues"]], f"samconfig: {name}={value} is not allowed")
        if parameter["Type"] == "Number":
            # Whole numbers: the gateway and the resources read them so (float() would take NaN).
            whole = re.fullmatch(r"[0-9]{1,12}", value) is not None
            expect(whole, f"samconfig: {name}={value} is not a whole number")
            number = int(value) if whole else 0
            expect(int(parameter.get("MinValue", number)) <= number <= int(parameter.get("MaxValue", number)),
                   f"samconfig: {name}={value} is out of range")
        else:
            expect(int(parameter.get("MinLength", 0)) <= len(value) <= int(parameter.get("MaxLength", len(value))),
                   f"samconfig: {name} is too short or too long")
            if "AllowedPattern" in parameter:
                expect(all(re.fullmatch(parameter["AllowedPattern"], m) for m in members),
                       f"samconfig: {name}={value} does not match {parameter['AllowedPattern']}")
    expect(rules_accept(**overrides), f"samconfig: the template's rules refuse {overrides}")
    if failures:
        for failure in failures:
            print(failure)
        sys.exit(1)
    print(json.dumps({"stack_name": deploy.get("stack_name"), "region": deploy.get("region"), "parameters": overrides}))
    sys.exit(0)


def fires_on(props, operator, threshold=None):
    expect(props.get("ComparisonOperator") == operator, f"alarm compares with {props.get('ComparisonOperator')}, not {operator}")
    if threshold is not None:
        expect(props.get("Threshold") == threshold, f"alarm threshold is {props.get('Threshold')}, not {threshold}")
    expect(props.get("TreatMissingData") == "notBreaching", "a quiet hour must not alarm")
    expect("AlarmActions" in props, "the alarm notifies the alarm topic")


props = alarm("SmsFailedRateAlarm")
watched = metrics_of(props)
expect(("MosaicSmsGateway", "SmsFailed", ("FunctionName",)) in watched
       and ("MosaicSmsGateway", "SmsSent", ("FunctionName",)) in watched, "SmsFailedRateAlarm is a rate of SmsFailed over sends")
fires_on(props, "GreaterThanThreshold", {"Ref": "FailedRateAlarmPercent"})

props = alarm("ProviderMisconfiguredAlarm")
expect(("MosaicSmsGateway", "ProviderMisconfigured", ("FunctionName",)) in metrics_of(props),
       "ProviderMisconfiguredAlarm watches ProviderMisconfigured")
fires_on(props, "GreaterThanOrEqualToThreshold", 3)

props = alarm("IdempotencyStoreAlarm")
expect(("MosaicSmsGateway", "IdempotencyStoreErrors", ("FunctionName",)) in metrics_of(props),
       "IdempotencyStoreAlarm watches IdempotencyStoreErrors")
fires_on(props, "GreaterThanOrEqualToThreshold", 3)
expect(resources["IdempotencyStoreAlarm"].get("Condition") == "CreateIdempotencyTable",
       "IdempotencyStoreAlarm exists with the table")
expect(resources["GatewayFunction"]["Properties"]["Environment"]["Variables"].get("LIMITS_ON_STORE_FAILURE")
       == {"Ref": "LimitsOnStoreFailure"}, "LIMITS_ON_STORE_FAILURE comes from LimitsOnStoreFailure")

# The pumping shield's alarms watch the dimension set the EMF line writes for a held request
# (src/adapters/emf.rs: FunctionName, Provider "none", Outcome the answer's code).
for name, outcome, condition, on, off in [
    ("PrefixBlockedAlarm", "prefix_blocked", "HasPrefixLimit", {"MaxSmsPerPrefixPerHour": "100"}, {}),
    ("CountryLimitAlarm", "country_limit", "HasCountryCaps", {"MaxSmsPerCountryPerHour": "1000"}, {}),
]:
    props = alarm(name)
    expect(("MosaicSmsGateway", "SmsRejected", ("FunctionName", "Provider", "Outcome")) in metrics_of(props),
           f"{name} watches SmsRejected by FunctionName, Provider, Outcome")
    dimensions = {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}
    expect(dimensions.get("Provider") == "none" and dimensions.get("Outcome") == outcome,
           f"{name} watches Provider none, Outcome {outcome}")
    fires_on(props, "GreaterThanOrEqualToThreshold", 5)
    expect(resources[name].get("Condition") == condition and condition_holds(condition, **on)
           and not condition_holds(condition, **off), f"{name} exists only when its limit is set")

props = alarm("SmsRejectedRateAlarm")
watched = metrics_of(props)
expect(("MosaicSmsGateway", "SmsRejected", ("FunctionName",)) in watched and
       ("MosaicSmsGateway", "SmsSent", ("FunctionName",)) in watched, "SmsRejectedRateAlarm is a rate of SmsRejected over sends")
expect(any("rejected" in repr(q.get("Expression", "")) for q in props.get("Metrics", [])), "SmsRejectedRateAlarm computes the rate")
fires_on(props, "GreaterThanThreshold", {"Ref": "RejectedRateAlarmPercent"})

props = alarm("SmsSpendAlarm")
expect(("AWS/SNS", "SMSMonthToDateSpentUSD", ()) in metrics_of(props), "SmsSpendAlarm watches SNS's month-to-date spend")
fires_on(props, "GreaterThanOrEqualToThreshold", {"Ref": "SmsSpendAlarmUsd"})
expect(resources["SmsSpendAlarm"].get("Condition") == "HasSpendAlarm", "SmsSpendAlarm only when asked for")

# End User Messaging's month-to-date text spend (a gauge: Maximum, never Sum), as a share of the limit
# the operator gives; only with end-user-messaging and a limit.
props = alarm("EumSpendAlarm")
expect(("AWS/SMSVoice", "TextMessageMonthlySpend", ()) in metrics_of(props),
       "EumSpendAlarm watches End User Messaging's month-to-date text message spend")
expect(all(q["MetricStat"].get("Stat") == "Maximum" for q in props.get("Metrics", []) if "MetricStat" in q),
       "EumSpendAlarm reads the month-to-date spend with Maximum")
expect(any("spend" in repr(q.get("Expression")) and "${EumSpendLimitUsd}" in repr(q.get("Expression"))
           and q.get("ReturnData") for q in props.get("Metrics", [])),
       "EumSpendAlarm computes the spend as a share of EumSpendLimitUsd")
fires_on(props, "GreaterThanOrEqualToThreshold", 80)
eum_spend_condition = (resources.get("EumSpendAlarm") or {}).get("Condition")
expect(eum_spend_condition in template.get("Conditions", {})
       and condition_holds(eum_spend_condition, SmsProvider="end-user-messaging", EumSpendLimitUsd="100")
       and condition_holds(eum_spend_condition, SmsProvider="sns,end-user-messaging", EumSpendLimitUsd="100")
       and not condition_holds(eum_spend_condition, SmsProvider="end-user-messaging", EumSpendLimitUsd="0")
       and not condition_holds(eum_spend_condition, SmsProvider="sns", EumSpendLimitUsd="100"),
       "EumSpendAlarm exists only with end-user-messaging in SmsProvider and EumSpendLimitUsd above 0")

props = alarm("SmsDeliveryRateAlarm")
watched = metrics_of(props)
expect(("MosaicSmsGateway", "SmsDelivered", ("FunctionName", "Provider")) in watched
       and ("MosaicSmsGateway", "SmsNotDelivered", ("FunctionName", "Provider")) in watched,
       "SmsDeliveryRateAlarm is a rate of the delivery receipts")
fires_on(props, "LessThanThreshold", {"Ref": "DeliveryRateAlarmPercent"})
expect(resources["SmsDeliveryRateAlarm"].get("Condition") == "HasDeliveryAlarm"
       and condition_holds("HasDeliveryAlarm", SmsProvider="twilio", TwilioFrom="+15005550006")
       and not condition_holds("HasDeliveryAlarm", SmsProvider="sns")
       and not condition_holds("HasDeliveryAlarm", SmsProvider="twilio", TwilioFrom="+15005550006", DeliveryRateAlarmPercent=0),
       "SmsDeliveryRateAlarm exists when Twilio's receipts come in and a threshold is set")

props = alarm("FunctionErrorsAlarm")
expect(("AWS/Lambda", "Errors", ("FunctionName",)) in metrics_of(props), "FunctionErrorsAlarm watches Lambda's Errors")
fires_on(props, "GreaterThanOrEqualToThreshold", 3)
props = alarm("FunctionThrottlesAlarm")
watched = metrics_of(props)
expect(("AWS/Lambda", "Throttles", ("FunctionName",)) in watched and ("AWS/Lambda", "Invocations", ("FunctionName",)) in watched,
       "FunctionThrottlesAlarm is a rate of throttles over invocations")
fires_on(props, "GreaterThanThreshold", 5)
props = alarm("SendLatencyNearDeadlineAlarm")
expect(("MosaicSmsGateway", "SendLatency", ("FunctionName",)) in metrics_of(props)
       and any(q.get("MetricStat", {}).get("Stat") == "p99" for q in props.get("Metrics", []))
       and any("${SendDeadlineMs}" in repr(q.get("Expression")) for q in props.get("Metrics", [])),
       "SendLatencyNearDeadlineAlarm compares the p99 send latency with SendDeadlineMs")
fires_on(props, "GreaterThanOrEqualToThreshold", 90)
props = alarm("ApiIntegrationErrorsAlarm")
expect(("MosaicSmsGateway", "ApiIntegrationErrors", ("ApiId",)) in metrics_of(props),
       "ApiIntegrationErrorsAlarm watches the access log's integration errors")
fires_on(props, "GreaterThanOrEqualToThreshold", 3)
props = alarm("TwilioCallbacksRefusedAlarm")
expect(("MosaicSmsGateway", "TwilioCallbacksRefused", ("FunctionName",)) in metrics_of(props),
       "TwilioCallbacksRefusedAlarm watches TwilioCallbacksRefused")
fires_on(props, "GreaterThanOrEqualToThreshold", {"Ref": "AlarmMinimumSends"})
expect("twilio_auth_token" in repr(props.get("AlarmDescription")),
       "TwilioCallbacksRefusedAlarm sends the operator to twilio_auth_token")
for name, resource in resources.items():
    # Unsigned or foreign callbacks are anyone on the internet: counted, never alarmed.
    if resource["Type"] == "AWS::CloudWatch::Alarm":
        expect("TwilioCallbacksAnonymous" not in [m for _, m, _ in metrics_of(resource["Properties"])],
               f"{name} watches TwilioCallbacksAnonymous, which anyone can raise")
for name in ["FunctionErrorsAlarm", "FunctionThrottlesAlarm", "SendLatencyNearDeadlineAlarm"]:
    # These watch the function whatever fronts it: no condition on the HTTP API.
    expect("Condition" not in resources[name], f"{name} exists with EnableFunctionUrl=only too")

# Every alarm watches a metric its publisher writes, with a dimension set it writes
# (tests/support/published_metrics.json; src/adapters/emf.rs's tests hold the function to it). None
# fires on one event: a rate needs AlarmMinimumSends in its period, a count at least 3; only the
# month's spend (a gauge) may fire on one datapoint.
import json as _json
import os as _os
published = _json.load(open(_os.path.join(_os.path.dirname(__file__), "published_metrics.json")))
alarms = {n: r for n, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
for name, resource in alarms.items():
    props = resource["Properties"]
    for namespace, metric, dims in metrics_of(props):
        sets = [tuple(d) for d in published.get(namespace, {}).get(metric, [])]
        expect(dims in sets, f"{name}: {namespace} {metric} by {list(dims)} is not published that way")
    expressions = [q.get("Expression") for q in props.get("Metrics", []) if "Expression" in q]
    gauge = props.get("Statistic") == "Maximum" or any(
        q.get("MetricStat", {}).get("Stat") == "Maximum" for q in props.get("Metrics", []))
    if expressions and not gauge:
        expect(any("AlarmMinimumSends" in repr(e) for e in expressions), f"{name}: a rate with no minimum volume")
    elif not gauge:
        threshold = props.get("Threshold", 0)
        expect(threshold == {"Ref": "AlarmMinimumSends"} or (isinstance(threshold, (int, float)) and threshold >= 3),
               f"{name} fires on fewer than 3 events")
    expect(props.get("TreatMissingData") == "notBreaching", f"{name}: a quiet hour must not alarm")
expect("HttpApi5xxAlarm" not in alarms, "no alarm on the HTTP API's 5xx: they count the function's own answers again")
integration = resources.get("ApiIntegrationErrorsFilter", {})
transformation = (integration.get("Properties", {}).get("MetricTransformations") or [{}])[0]
expect(integration.get("Properties", {}).get("LogGroupName") == {"Ref": "HttpApiAccessLogGroup"}
       and transformation.get("MetricName") == "ApiIntegrationErrors"
       and [d["Key"] for d in transformation.get("Dimensions", [])] == ["ApiId"]
       and '$.status = "500"' in integration["Properties"].get("FilterPattern", ""),
       "ApiIntegrationErrorsFilter counts the access log's 500s and integration errors by ApiId")

# The dashboard: each metric it names outright is published so; the SEARCH expressions name schemas
# that are.
dashboard = resources.get("Dashboard", {})
expect(dashboard.get("Type") == "AWS::CloudWatch::Dashboard", "the stack has a dashboard")
body = dashboard.get("Properties", {}).get("DashboardBody", {}).get("Fn::Sub", "")
board = _json.loads(body.replace("${GatewayFunction}", "fn").replace("${AWS::Region}", "r").replace("${SendDeadlineMs}", "2500"))
titles = " ".join(w["properties"]["title"] for w in board["widgets"]).lower()
for topic in ["outcome", "refusals by reason", "country", "p99", "deadline", "delivered", "errors", "throttles",
              "concurrency", "spend"]:
    expect(topic in titles, f"the dashboard shows {topic}")
for widget in board["widgets"]:
    for row in widget["properties"]["metrics"]:
        names = [x for x in row if isinstance(x, str)]
        if names:
            namespace, metric, rest = names[0], names[1], names[2:]
            dims = tuple(rest[0::2])
            expect(dims in [tuple(d) for d in published.get(namespace, {}).get(metric, [])],
                   f"dashboard: {namespace} {metric} by {list(dims)} is not published that way")
        for item in row:
            if isinstance(item, dict) and "SEARCH(" in item.get("expression", ""):
                schema = re.search(r"\{([^}]*)\}", item["expression"]).group(1).split(",")
                metric = re.search(r'MetricName="([^"]+)"', item["expression"]).group(1)
                expect(tuple(schema[1:]) in [tuple(d) for d in published.get(schema[0], {}).get(metric, [])],
                       f"dashboard: SEARCH of {schema[0]} {metric} by {schema[1:]} is not published that way")

# The function may read its secret and, with SNS, publish to phone numbers and read the sandbox status.
policies = resources["GatewayFunction"]["Properties"]["Policies"]
text = repr(policies)
for action in ["secretsmanager:GetSecretValue", "sns:Publish", "sns:GetSMSSandboxAccountStatus",
               "sms-voice:SendTextMessage", "sms-voice:DescribeAccountAttributes"]:
    expect(action in text, f"the function's policy grants {action}")


def actions(node):
    """Every Action named anywhere in the policies (under Fn::If too)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Action":
                yield from (value if isinstance(value, list) else [value])
            else:
                yield from actions(value)
    elif isinstance(node, list):
        for item in node:
            yield from actions(item)


for action in actions(policies):
    expect(action != "*" and not action.endswith(":*"), f"the function's policy grants the wildcard {action}")



def statements(node):
    """Every policy statement (under Fn::If too)."""
    if isinstance(node, dict):
        if "Effect" in node and "Action" in node:
            yield node
        for value in node.values():
            yield from statements(value)
    elif isinstance(node, list):
        for item in node:
            yield from statements(item)


def paths_to(node, target, conditions=()):
    """The Fn::If conditions whose true branch leads to target, once per place target appears."""
    if node is target:
        yield conditions
    elif isinstance(node, dict):
        if "Fn::If" in node:
            condition, when_true, when_false = node["Fn::If"]
            yield from paths_to(when_true, target, conditions + (condition,))
            yield from paths_to(when_false, target, conditions)
        else:
            for value in node.values():
                yield from paths_to(value, target, conditions)
    elif isinstance(node, list):
        for item in node:
            yield from paths_to(item, target, conditions)


send_statements = [s for s in statements(policies) if s["Action"] == "sms-voice:SendTextMessage"]
for statement in send_statements:
    expect("*" not in repr(statement["Resource"]), "SendTextMessage is scoped to ARNs, never *")
expect(any({"Ref": "EumOriginationIdentityArn"} in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
           for s in send_statements),
       "SendTextMessage is scoped to the configured origination identity")
# SenderByCountry's identities: granted from their parameter, and only when it names any (its empty
# default is [""], which IAM refuses as a Resource).
country_arns = template["Parameters"].get("EumCountryOriginationIdentityArns", {})
expect(country_arns.get("Type") == "CommaDelimitedList" and country_arns.get("Default") == "",
       "EumCountryOriginationIdentityArns is a CommaDelimitedList, empty by default")
country_statements = [s for s in send_statements if "EumCountryOriginationIdentityArns" in repr(s["Resource"])]
expect(len(country_statements) >= 1, "SendTextMessage is granted on EumCountryOriginationIdentityArns")
ARN = "arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-0123456789abcdef"
for statement in country_statements:
    paths = list(paths_to(policies, statement))
    expect(paths and all(any(c in template.get("Conditions", {})
                             and not condition_holds(c, SmsProvider="end-user-messaging")
                             and condition_holds(c, SmsProvider="end-user-messaging",
                                                 EumCountryOriginationIdentityArns=ARN)
                             for c in path) for path in paths),
           "the EumCountryOriginationIdentityArns statement exists only when the list names an ARN")
expect(rules_accept(EumCountryOriginationIdentityArns="") and rules_accept(EumCountryOriginationIdentityArns=f"{ARN},{ARN}")
       and not rules_accept(EumCountryOriginationIdentityArns=f"{ARN},,{ARN}")
       and not rules_accept(EumCountryOriginationIdentityArns=f"{ARN},"),
       "a rule refuses an empty member in EumCountryOriginationIdentityArns")

# The idempotency table: the schema src/adapters/store/dynamo.rs writes (pk, a string, no sort key; expires_at in
# epoch seconds), on demand, and only when EnableIdempotencyTable asks for it.
table = resources.get("IdempotencyTable") or {}
expect(table.get("Type") == "AWS::DynamoDB::Table", "IdempotencyTable: no such DynamoDB table")
table_condition = table.get("Condition")
expect(table_condition is not None
       and "EnableIdempotencyTable" in repr(template.get("Conditions", {}).get(table_condition)),
       "IdempotencyTable exists only when EnableIdempotencyTable turns it on")
table_props = table.get("Properties", {})
expect(table_props.get("KeySchema") == [{"AttributeName": "pk", "KeyType": "HASH"}],
       "the idempotency table's key is pk alone, no sort key")
expect(table_props.get("AttributeDefinitions") == [{"AttributeName": "pk", "AttributeType": "S"}],
       "the idempotency table's pk is a string (S)")
expect(table_props.get("TimeToLiveSpecification") == {"AttributeName": "expires_at", "Enabled": True},
       "the idempotency table expires items by TTL on expires_at")
expect(table_props.get("BillingMode") == "PAY_PER_REQUEST", "the idempotency table is on demand (PAY_PER_REQUEST)")

# The function may read and write single items of exactly that table, and only when it exists.
TABLE_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]


def action_list(statement):
    value = statement["Action"]
    return list(value) if isinstance(value, list) else [value]


dynamodb_statements = [s for s in statements(policies) if any(a.startswith("dynamodb:") for a in action_list(s))]
expect(len(dynamodb_statements) == 1, f"{len(dynamodb_statements)} policy statements grant DynamoDB actions, not one")
for statement in dynamodb_statements:
    expect(statement.get("Effect") == "Allow" and sorted(action_list(statement)) == sorted(TABLE_ACTIONS),
           f"the DynamoDB statement allows exactly {', '.join(TABLE_ACTIONS)}, not {action_list(statement)}")
    expect(statement.get("Resource") == {"Fn::GetAtt": ["IdempotencyTable", "Arn"]},
           f"the DynamoDB statement is scoped to the table's ARN (!GetAtt IdempotencyTable.Arn), not {statement.get('Resource')}")
guarded = [p for p in policies
           if isinstance(p, dict) and "Fn::If" in p and p["Fn::If"][0] == table_condition
           and any(s in dynamodb_statements for s in statements(p["Fn::If"][1]))
           and not any(s in dynamodb_statements for s in statements(p["Fn::If"][2]))]
expect(len(guarded) == 1, "the DynamoDB statement is granted only under the table's condition")

# The fingerprint key: a generated secret of its own (a field added to ApiKeySecret's generated value
# would regenerate it, API key included), with the table, named by FINGERPRINT_SECRET_ID and readable.
fingerprint = resources.get("FingerprintKeySecret") or {}
generated = fingerprint.get("Properties", {}).get("GenerateSecretString", {})
expect(fingerprint.get("Type") == "AWS::SecretsManager::Secret" and generated.get("GenerateStringKey") == "fingerprint_key"
       and generated.get("PasswordLength", 0) >= 32,
       "FingerprintKeySecret generates a fingerprint_key of at least 32 characters")
expect(fingerprint.get("Condition") == table_condition, "FingerprintKeySecret exists exactly when the table does")
expect(resources.get("ApiKeySecret", {}).get("Properties", {}).get("GenerateSecretString")
       == {"SecretStringTemplate": "{}", "GenerateStringKey": "api_key", "PasswordLength": 48, "ExcludePunctuation": True},
       "ApiKeySecret's GenerateSecretString is unchanged (a change regenerates the API key on update)")
variables = resources["GatewayFunction"]["Properties"]["Environment"]["Variables"]
expect(variables.get("FINGERPRINT_SECRET_ID") == {"Fn::If": [table_condition, {"Ref": "FingerprintKeySecret"}, ""]},
       "FINGERPRINT_SECRET_ID names the fingerprint secret when it exists and is empty otherwise")
expect(any(s["Action"] == "secretsmanager:GetSecretValue" and s.get("Resource") == {"Ref": "FingerprintKeySecret"}
           for s in statements(policies)),
       "the function may read FingerprintKeySecret")

# The function's environment: the table's name (empty without it) and the settings, from their parameters.
variables = resources["GatewayFunction"]["Properties"]["Environment"]["Variables"]
expect(variables.get("IDEMPOTENCY_TABLE") == {"Fn::If": [table_condition, {"Ref": "IdempotencyTable"}, ""]},
       "IDEMPOTENCY_TABLE names the table when it exists and is empty otherwise")
for variable, parameter in [("DEDUPE_WINDOW_SECONDS", "DedupeWindowSeconds"),
                            ("MAX_SMS_PER_NUMBER_PER_HOUR", "MaxSmsPerNumberPerHour"),
                            ("ALLOWED_COUNTRIES", "AllowedCountries"),
                            ("BLOCKED_COUNTRIES", "BlockedCountries"),
                            ("SENDER_BY_COUNTRY", "SenderByCountry"),
                            ("PROVIDERS_BY_COUNTRY", "ProvidersByCountry"),
                            ("SFMC_SUBDOMAIN", "SfmcSubdomain"),
                            ("SFMC_ACCOUNT_ID", "SfmcAccountId"),
                            ("SFMC_DEFINITION_KEY", "SfmcDefinitionKey"),
                            ("VONAGE_FROM", "VonageFrom"),
                            ("INFOBIP_BASE_URL", "InfobipBaseUrl"),
                            ("INFOBIP_FROM", "InfobipFrom")]:
    expect(variables.get(variable) == {"Ref": parameter} and parameter in template["Parameters"],
           f"{variable} comes from the {parameter} parameter")
expect(any("AllowedCountries" in repr(a.get("Assert")) and "BlockedCountries" in repr(a.get("Assert"))
           for rule in template.get("Rules", {}).values() for a in rule.get("Assertions", [])),
       "a rule refuses AllowedCountries and BlockedCountries together")
# Salesforce Marketing Cloud: its settings are required wherever SmsProvider names it, and nowhere else.
sfmc = "salesforce-marketing-cloud"
for provider in [sfmc, f"{sfmc},sns", f"sns,{sfmc}", f"twilio,{sfmc}", f"{sfmc},end-user-messaging"]:
    extra = {"TwilioFrom": "+15005550006"} if "twilio" in provider else {}
    if "end-user-messaging" in provider:
        extra["EumOriginationIdentityArn"] = "arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-1"
    expect(provider in template["Parameters"]["SmsProvider"]["AllowedValues"], f"SmsProvider allows {provider}")
    expect(not rules_accept(SmsProvider=provider, **extra)
           and not rules_accept(SmsProvider=provider, SfmcSubdomain="mc1", **extra)
           and rules_accept(SmsProvider=provider, SfmcSubdomain="mc1", SfmcDefinitionKey="otp", **extra),
           f"the rules want SfmcSubdomain and SfmcDefinitionKey with SmsProvider={provider}")
    expect(condition_holds("UsesSns", SmsProvider=provider) == ("sns" in provider.split(",")),
           f"UsesSns {'holds' if 'sns' in provider.split(',') else 'does not hold'} for SmsProvider={provider}")
# Vonage: a sender wherever SmsProvider names it.
for provider in ["vonage", "vonage,sns", "sns,vonage"]:
    expect(provider in template["Parameters"]["SmsProvider"]["AllowedValues"], f"SmsProvider allows {provider}")
    expect(not rules_accept(SmsProvider=provider) and rules_accept(SmsProvider=provider, VonageFrom="Acme"),
           f"the rules want VonageFrom with SmsProvider={provider}")
    expect(condition_holds("UsesSns", SmsProvider=provider) == ("sns" in provider.split(",")),
           f"UsesSns {'holds' if 'sns' in provider.split(',') else 'does not hold'} for SmsProvider={provider}")
# http: the description ships as a layer (http-provider/), read from HTTP_PROVIDER_FILE, wherever a
# chain may name http; the environment has no room for the description itself.
for provider in ["http", "http,sns", "sns,http"]:
    expect(provider in template["Parameters"]["SmsProvider"]["AllowedValues"], f"SmsProvider allows {provider}")
    expect(rules_accept(SmsProvider=provider), f"SmsProvider={provider} needs no other parameter")
    expect(condition_holds("UsesHttp", SmsProvider=provider), f"UsesHttp holds for SmsProvider={provider}")
    expect(condition_holds("UsesSns", SmsProvider=provider) == ("sns" in provider.split(",")),
           f"UsesSns {'holds' if 'sns' in provider.split(',') else 'does not hold'} for SmsProvider={provider}")
expect(not condition_holds("UsesHttp", SmsProvider="sns"), "UsesHttp does not hold for SmsProvider=sns")
expect(condition_holds("UsesHttp", SmsProvider="sns", ProvidersByCountry='{"DE":"http"}'),
       "UsesHttp holds with ProvidersByCountry (a chain may name http)")
layer = resources.get("HttpProviderLayer", {})
expect(layer.get("Type") == "AWS::Serverless::LayerVersion" and layer.get("Condition") == "UsesHttp"
       and layer.get("Properties", {}).get("ContentUri") == "http-provider/",
       "HttpProviderLayer ships http-provider/ when UsesHttp")
expect(resources["GatewayFunction"]["Properties"].get("Layers")
       == {"Fn::If": ["UsesHttp", [{"Ref": "HttpProviderLayer"}], {"Ref": "AWS::NoValue"}]},
       "the function has the http provider's layer when UsesHttp")
expect(variables.get("HTTP_PROVIDER_FILE") == {"Fn::If": ["UsesHttp", "/opt/http-provider.json", ""]},
       "HTTP_PROVIDER_FILE names the layer's description when UsesHttp, and is empty otherwise")
# Infobip: the account's host and a sender wherever SmsProvider names it; the host is Infobip's only
# (the API key goes there).
for provider in ["infobip", "infobip,sns", "sns,infobip"]:
    expect(provider in template["Parameters"]["SmsProvider"]["AllowedValues"], f"SmsProvider allows {provider}")
    expect(not rules_accept(SmsProvider=provider)
           and not rules_accept(SmsProvider=provider, InfobipFrom="Acme")
           and not rules_accept(SmsProvider=provider, InfobipBaseUrl="xyz12.api.infobip.com")
           and rules_accept(SmsProvider=provider, InfobipBaseUrl="xyz12.api.infobip.com", InfobipFrom="Acme"),
           f"the rules want InfobipBaseUrl and InfobipFrom with SmsProvider={provider}")
    expect(condition_holds("UsesSns", SmsProvider=provider) == ("sns" in provider.split(",")),
           f"UsesSns {'holds' if 'sns' in provider.split(',') else 'does not hold'} for SmsProvider={provider}")
infobip_host = re.compile(template["Parameters"]["InfobipBaseUrl"]["AllowedPattern"])
expect(all(infobip_host.fullmatch(h) for h in ["", "xyz12.api.infobip.com", "4d3f1-a.api.infobip.com"])
       and not any(infobip_host.fullmatch(h) for h in ["https://xyz12.api.infobip.com", "xyz12.api.infobip.com.evil.example",
                                                        "evil.example", "xyz12.api.infobip.com/"]),
       "InfobipBaseUrl takes an Infobip account host and nothing else")
# Conditions cannot read ProvidersByCountry's JSON: a chain of its own may use SNS, and End User
# Messaging when it has an identity.
expect(condition_holds("UsesSns", SmsProvider="twilio", TwilioFrom="+15005550006", ProvidersByCountry='{"DE":"sns"}')
       and not condition_holds("UsesSns", SmsProvider="twilio", TwilioFrom="+15005550006"),
       "UsesSns holds when ProvidersByCountry is set")
eum_arn = "arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-1"
expect(condition_holds("UsesEum", ProvidersByCountry='{"DE":"end-user-messaging"}', EumOriginationIdentityArn=eum_arn)
       and not condition_holds("UsesEum", ProvidersByCountry='{"DE":"end-user-messaging"}'),
       "UsesEum holds when ProvidersByCountry is set and EumOriginationIdentityArn names an identity")

# Twilio's status callbacks: the API routes POST /twilio/status to the function (which may be invoked
# for it), and the function is told the URL whenever Twilio sends and the HTTP API exists.
api = resources.get("HttpApi", {}).get("Properties", {})
paths = api.get("DefinitionBody", {}).get("paths", {})
expect("post" in paths.get("/twilio/status", {})
       and {"get", "post"} == set(paths.get("/vonage/status", {}))
       and {"post"} == set(paths.get("/infobip/status", {}))
       and set(paths) == {"/send-sms", "/twilio/status", "/vonage/status", "/infobip/status"},
       "the HTTP API routes ANY /send-sms, POST /twilio/status, GET, POST /vonage/status and POST "
       "/infobip/status, nothing else")
for path, operations in paths.items():
    for operation in operations.values():
        uri = repr(operation.get("x-amazon-apigateway-integration", {}).get("uri"))
        # By name, not by !GetAtt: the function's environment names the API, so a reference back
        # would be a circular dependency.
        expect("GatewayFunction" not in uri and "${AWS::StackName}-gateway" in uri,
               f"{path} integrates the function by its fixed name")
callback_url = variables.get("RECEIPTS_BASE_URL", {})
expect(isinstance(callback_url, dict) and callback_url.get("Fn::If", [None])[0] == "SetsReceipts"
       and "${HttpApi}.execute-api" in repr(callback_url) and "status" not in repr(callback_url),
       "RECEIPTS_BASE_URL is the API's base URL under SetsReceipts")
expect(condition_holds("SetsTwilioCallbacks", SmsProvider="twilio,sns", TwilioFrom="+15005550006")
       and not condition_holds("SetsTwilioCallbacks", SmsProvider="sns")
       and not condition_holds("SetsTwilioCallbacks", SmsProvider="twilio", TwilioFrom="+15005550006", EnableFunctionUrl="only")
       and not condition_holds("SetsTwilioCallbacks", SmsProvider="twilio", TwilioFrom="+15005550006", DeliveryReceipts="false"),
       "SetsTwilioCallbacks holds with twilio in SmsProvider, the HTTP API, and DeliveryReceipts true only")
expect(condition_holds("SetsVonageReceipts", SmsProvider="vonage,sns", VonageFrom="Acme")
       and not condition_holds("SetsVonageReceipts", SmsProvider="vonage", VonageFrom="Acme", DeliveryReceipts="false")
       and not condition_holds("SetsVonageReceipts", SmsProvider="twilio", TwilioFrom="+15005550006"),
       "SetsVonageReceipts holds with vonage in SmsProvider, the HTTP API, and DeliveryReceipts true only")
infobip_set = {"InfobipBaseUrl": "xyz12.api.infobip.com", "InfobipFrom": "Acme"}
expect(condition_holds("SetsInfobipReceipts", SmsProvider="sns,infobip", **infobip_set)
       and not condition_holds("SetsInfobipReceipts", SmsProvider="infobip", DeliveryReceipts="false", **infobip_set)
       and not condition_holds("SetsInfobipReceipts", SmsProvider="infobip", EnableFunctionUrl="only", **infobip_set)
       and not condition_holds("SetsInfobipReceipts", SmsProvider="vonage", VonageFrom="Acme"),
       "SetsInfobipReceipts holds with infobip in SmsProvider, the HTTP API, and DeliveryReceipts true only")
permissions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
expect(any("/POST/twilio/status" in repr(p["Properties"].get("SourceArn")) for p in permissions)
       and any("/*/vonage/status" in repr(p["Properties"].get("SourceArn")) for p in permissions)
       and any("/POST/infobip/status" in repr(p["Properties"].get("SourceArn")) for p in permissions),
       "API Gateway may invoke the function for POST /twilio/status, GET, POST /vonage/status and "
       "POST /infobip/status")
# Access logs: to a log group of the stack's with the logs' retention, with the caller's address.
access = api.get("AccessLogSettings", {})
log_group = resources.get("HttpApiAccessLogGroup", {})
expect(access.get("DestinationArn") == {"Fn::GetAtt": ["HttpApiAccessLogGroup", "Arn"]}
       and log_group.get("Properties", {}).get("RetentionInDays") == {"Ref": "LogRetentionDays"},
       "the HTTP API logs each request to HttpApiAccessLogGroup, kept LogRetentionDays")
access_format = access.get("Format", "")
expect("$context.identity.sourceIp" in access_format and "$context.status" in access_format
       and '"apiId":"$context.apiId"' in access_format and "userAgent" not in access_format
       and "header" not in access_format.lower() and "body" not in access_format.lower(),
       "the access log has the source address and the status, and no header or body")

# A public Function URL has no throttling: a rule makes it come with reserved concurrency. Evaluated, not
# matched by shape: the rules accept exactly the combinations below.
for url in ["none", "also", "only"]:
    for reserved in ["0", "10"]:
        expect(rules_accept(EnableFunctionUrl=url, ReservedConcurrency=reserved) == (url == "none" or reserved != "0"),
               f"the rules {'refuse' if url != 'none' and reserved == '0' else 'accept'} "
               f"EnableFunctionUrl={url} with ReservedConcurrency={reserved}")
# Rules and conditions can only test for "0": these parameters must have no other way to say zero.
for name in ["ReservedConcurrency", "EumSpendLimitUsd"]:
    parameter = template["Parameters"].get(name, {})
    pattern = parameter.get("AllowedPattern", "")
    expect(parameter.get("Type") == "String" and parameter.get("Default") == "0" and pattern
           and re.fullmatch(pattern, "0") and re.fullmatch(pattern, "50")
           and not any(re.fullmatch(pattern, v) for v in ["00", "0.0", "-1", "010", ""]),
           f"{name} is a String, 0 by default, whose only zero is \"0\"")
expect(any(o.get("Value") == {"Ref": "IdempotencyTable"} and o.get("Condition") == table_condition
           for o in template.get("Outputs", {}).values()),
       "an output names the idempotency table when it exists")



# End User Messaging's delivery events: a configuration set of the stack's, with an event destination
# to a log group the service may write, when the function sends through it; metric filters that write
# exactly the function's own receipt metrics (the Context the function sends carries FunctionName
# and Provider back).
eum_on = {"SmsProvider": "end-user-messaging",
          "EumOriginationIdentityArn": "arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-1"}
expect(condition_holds("CreatesEumEvents", **eum_on)
       and not condition_holds("CreatesEumEvents", **eum_on, EumDeliveryEvents="false")
       and not condition_holds("CreatesEumEvents", **eum_on,
                               EumConfigurationSetArn="arn:aws:sms-voice:us-east-1:123456789012:configuration-set/own")
       and not condition_holds("CreatesEumEvents", SmsProvider="sns"),
       "CreatesEumEvents holds with end-user-messaging, EumDeliveryEvents true and no set of the user's only")
config_set = resources.get("EumConfigurationSet", {})
destinations = config_set.get("Properties", {}).get("EventDestinations", [])
expect(config_set.get("Condition") == "CreatesEumEvents" and len(destinations) == 1
       and destinations[0].get("CloudWatchLogsDestination", {}).get("LogGroupArn") == {"Fn::GetAtt": ["EumEventsLogGroup", "Arn"]}
       and {"TEXT_DELIVERED", "TEXT_SUCCESSFUL", "TEXT_BLOCKED", "TEXT_TTL_EXPIRED", "TEXT_CARRIER_UNREACHABLE"}
       <= set(destinations[0].get("MatchingEventTypes", [])),
       "EumConfigurationSet sends the final events to EumEventsLogGroup")
expect("sms-voice.amazonaws.com" in repr(resources.get("EumEventsRole", {}).get("Properties", {}).get("AssumeRolePolicyDocument")),
       "End User Messaging may assume EumEventsRole to write the events")
expect("CreatesEumEvents" in repr(variables.get("EUM_CONFIGURATION_SET")) and "EumConfigurationSet" in repr(variables.get("EUM_CONFIGURATION_SET")),
       "the function sends through the stack's configuration set when it creates one")
expect(any("EumConfigurationSet" in repr(s_.get("Resource")) for s_ in send_statements),
       "the function may send with the stack's configuration set")
filters = {n: r for n, r in resources.items() if r["Type"] == "AWS::Logs::MetricFilter"
           and r["Properties"].get("LogGroupName") == {"Ref": "EumEventsLogGroup"}}
written = set()
for name, resource in filters.items():
    props = resource["Properties"]
    expect(resource.get("Condition") == "CreatesEumEvents" and props.get("LogGroupName") == {"Ref": "EumEventsLogGroup"},
           f"{name} reads EumEventsLogGroup, with it")
    for transformation in props.get("MetricTransformations", []):
        dims = tuple(d["Key"] for d in transformation.get("Dimensions", []))
        metric = transformation.get("MetricName")
        expect(dims in [tuple(d) for d in published.get(transformation.get("MetricNamespace"), {}).get(metric, [])],
               f"{name}: {metric} by {list(dims)} is not how the function publishes it")
        expect("$.isFinal IS TRUE" in props.get("FilterPattern", ""), f"{name} counts final events only")
        written.add((metric, dims))
expect(written == {(m, d) for m in ["SmsDelivered", "SmsNotDelivered"]
                   for d in [("FunctionName", "Provider"), ("FunctionName", "Provider", "Country")]},
       "the metric filters write SmsDelivered and SmsNotDelivered with both dimension sets")

# Edge protection (EdgeProtection=waf, #33): a regional REST API behind a web ACL instead of the HTTP
# API, the same routes, the web ACL on its only stage, no Function URL beside it; the allow-list, the
# managed rules and the rate limit in the web ACL; the receipts' URL and the outputs on the REST API.
KMS = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CIDRS = "203.0.113.0/24,198.51.100.7/32"
edge = template["Parameters"].get("EdgeProtection", {})
expect(edge.get("AllowedValues") == ["none", "waf"] and edge.get("Default") == "none",
       "EdgeProtection is none (the HTTP API, as before) or waf, none by default")
expect(condition_holds("CreateHttpApi") and not condition_holds("UsesWaf"), "by default the HTTP API, no WAF")
expect(condition_holds("UsesWaf", EdgeProtection="waf") and not condition_holds("CreateHttpApi", EdgeProtection="waf")
       and condition_holds("HasAnApi", EdgeProtection="waf"),
       "with EdgeProtection=waf there is an API, and it is not the HTTP API (which WAF cannot protect)")
for url in ["none", "also", "only"]:
    expect(rules_accept(EdgeProtection="waf", EnableFunctionUrl=url, ReservedConcurrency="10") == (url == "none"),
           f"the rules {'accept' if url == 'none' else 'refuse'} EdgeProtection=waf with EnableFunctionUrl={url}")
expect(not condition_holds("CreateFunctionUrl", EdgeProtection="waf"), "no Function URL with EdgeProtection=waf")
expect(rules_accept(EdgeProtection="waf", AllowedSourceCidrs=CIDRS) and not rules_accept(AllowedSourceCidrs=CIDRS)
       and not rules_accept(EdgeProtection="waf", AllowedSourceCidrs="203.0.113.0/24,,198.51.100.7/32")
       and rules_accept(EdgeProtection="waf"),
       "AllowedSourceCidrs only with EdgeProtection=waf, without an empty member")
expect(condition_holds("HasAllowedSources", EdgeProtection="waf", AllowedSourceCidrs=CIDRS)
       and not condition_holds("HasAllowedSources", EdgeProtection="waf")
       and not condition_holds("HasAllowedSources", AllowedSourceCidrs=CIDRS),
       "HasAllowedSources holds with waf and a CIDR only")
cidr_pattern = template["Parameters"].get("AllowedSourceCidrs", {}).get("AllowedPattern", "$^")
expect(all(re.fullmatch(cidr_pattern, c) for c in ["", "203.0.113.0/24", "198.51.100.7/32", "0.0.0.0/0"])
       and not any(re.fullmatch(cidr_pattern, c) for c in ["203.0.113.0", "203.0.113.0/33", "2001:db8::/32", " 203.0.113.0/24"]),
       "AllowedSourceCidrs takes IPv4 CIDR blocks only")

rest = resources.get("RestApi", {})
rest_props = rest.get("Properties", {})
rest_paths = rest_props.get("DefinitionBody", {}).get("paths", {})
stage = rest_props.get("StageName")
expect(rest.get("Type") == "AWS::Serverless::Api" and rest.get("Condition") == "UsesWaf"
       and rest_props.get("EndpointConfiguration", {}).get("Type") == "REGIONAL",
       "RestApi is a regional REST API, with EdgeProtection=waf only")
expect({p: set(o) for p, o in rest_paths.items()} == {p: set(o) for p, o in paths.items()},
       "the REST API has the HTTP API's routes and methods, no more, no fewer")
for path, operations in rest_paths.items():
    for operation in operations.values():
        integration = operation.get("x-amazon-apigateway-integration", {})
        expect(integration.get("type") == "aws_proxy" and "GatewayFunction" not in repr(integration.get("uri"))
               and "function:${AWS::StackName}-gateway/invocations" in repr(integration.get("uri")),
               f"REST {path} is a Lambda proxy integration of the function by its fixed name")
settings = (rest_props.get("MethodSettings") or [{}])[0]
expect(settings.get("ThrottlingRateLimit") == {"Ref": "ThrottlingRateLimit"}
       and settings.get("ThrottlingBurstLimit") == {"Ref": "ThrottlingBurstLimit"}
       and settings.get("ResourcePath") == "/*" and settings.get("HttpMethod") == "*",
       "the REST API throttles every method as the HTTP API does")
rest_access = rest_props.get("AccessLogSetting", {})
expect(rest_access.get("DestinationArn") == {"Fn::GetAtt": ["HttpApiAccessLogGroup", "Arn"]}
       and all(v in rest_access.get("Format", "") for v in ['"apiId":"$context.apiId"', "$context.identity.sourceIp",
                                                             '"status":"$context.status"', "$context.integrationErrorMessage"])
       and "header" not in rest_access.get("Format", "").lower() and "body" not in rest_access.get("Format", "").lower(),
       "the REST API logs to the access log group in the fields ApiIntegrationErrorsFilter reads, without header or body")
expect(resources.get("HttpApiAccessLogGroup", {}).get("Condition") == "HasAnApi"
       and resources.get("ApiIntegrationErrorsFilter", {}).get("Condition") == "HasAnApi"
       and resources.get("ApiIntegrationErrorsAlarm", {}).get("Condition") == "HasAnApi"
       and "RestApi" in repr(resources.get("ApiIntegrationErrorsAlarm", {}).get("Properties", {}).get("Dimensions")),
       "the access log, its filter and ApiIntegrationErrorsAlarm serve either API")
for route in ["/*/*/send-sms", "/*/POST/twilio/status", "/*/*/vonage/status"]:
    expect(any(p.get("Condition") == "UsesWaf" and "${RestApi}" + route in repr(p["Properties"].get("SourceArn"))
               for p in permissions),
           f"the REST API may invoke the function for {route}")
association = resources.get("WebAclAssociation", {})
expect(association.get("Type") == "AWS::WAFv2::WebACLAssociation" and association.get("Condition") == "UsesWaf"
       and association.get("Properties", {}).get("WebACLArn") == {"Fn::GetAtt": ["WebAcl", "Arn"]}
       and "/restapis/${RestApi}/stages/${RestApi.Stage}" in repr(association.get("Properties", {}).get("ResourceArn")),
       "the web ACL is associated with the REST API's stage")
acl = resources.get("WebAcl", {})
acl_props = acl.get("Properties", {})
expect(acl.get("Condition") == "UsesWaf" and acl_props.get("Scope") == "REGIONAL"
       and acl_props.get("DefaultAction") == {"Allow": {}}
       and acl_props.get("VisibilityConfig", {}).get("CloudWatchMetricsEnabled") is True
       and acl_props.get("VisibilityConfig", {}).get("MetricName") == {"Fn::Sub": "${AWS::StackName}-gateway"}
       and acl_props.get("Name") == {"Fn::Sub": "${AWS::StackName}-gateway"},
       "the web ACL is regional, named and measured as the alarm and the dashboard read it")


def waf_rules(**overrides):
    """The web ACL's rules under these parameter values, by name."""
    chosen = {}
    for rule in acl_props.get("Rules", []):
        if isinstance(rule, dict) and "Fn::If" in rule:
            condition, when_true, when_false = rule["Fn::If"]
            rule = when_true if condition_holds(condition, EdgeProtection="waf", **overrides) else when_false
        if isinstance(rule, dict) and "Name" in rule:
            chosen[rule["Name"]] = rule
    return chosen


for overrides in [{}, {"AllowedSourceCidrs": CIDRS}]:
    rules = waf_rules(**overrides)
    expect(all(r.get("VisibilityConfig", {}).get("CloudWatchMetricsEnabled") is True for r in rules.values())
           and len({r["Priority"] for r in rules.values()}) == len(rules),
           f"every web ACL rule is measured and has a priority of its own ({overrides or 'no allow-list'})")
    managed = {r["Statement"].get("ManagedRuleGroupStatement", {}).get("Name"): r for r in rules.values()}
    expect("AWSManagedRulesAmazonIpReputationList" in managed
           and managed["AWSManagedRulesAmazonIpReputationList"].get("OverrideAction") == {"None": {}},
           "the web ACL applies AWS's IP reputation list as it is")
    rate = [r for r in rules.values() if "RateBasedStatement" in r["Statement"]]
    expect(len(rate) == 1 and rate[0]["Statement"]["RateBasedStatement"].get("Limit") == {"Ref": "WafRateLimit"}
           and rate[0]["Statement"]["RateBasedStatement"].get("AggregateKeyType") == "IP"
           and rate[0]["Statement"]["RateBasedStatement"].get("EvaluationWindowSec") == 300
           and rate[0].get("Action") == {"Block": {}},
           "one rate-based rule blocks a source address past WafRateLimit requests in 5 minutes")
allowed, plain = waf_rules(AllowedSourceCidrs=CIDRS), waf_rules()
expect(set(allowed) - set(plain) == {"AllowMosaicEgress", "BlockOthersButReceipts"} and set(plain) <= set(allowed),
       "the allow-list adds its two rules, and only with AllowedSourceCidrs")
allow = allowed.get("AllowMosaicEgress", {})
expect(allow.get("Action") == {"Allow": {}}
       and allow.get("Statement", {}).get("IPSetReferenceStatement", {}).get("Arn") == {"Fn::GetAtt": ["WafAllowedSources", "Arn"]}
       and allow.get("Priority") == min(r["Priority"] for r in allowed.values()),
       "Mosaic's addresses are allowed first, before any rule could block them")
ipset = resources.get("WafAllowedSources", {})
expect(ipset.get("Condition") == "HasAllowedSources" and ipset.get("Properties", {}).get("Addresses") == {"Ref": "AllowedSourceCidrs"}
       and ipset.get("Properties", {}).get("IPAddressVersion") == "IPV4",
       "the IP set holds AllowedSourceCidrs, with them only")
others = allowed.get("BlockOthersButReceipts", {})
regex = others.get("Statement", {}).get("NotStatement", {}).get("Statement", {}).get("RegexMatchStatement", {})
expect(others.get("Action") == {"Block": {}} and regex.get("FieldToMatch") == {"UriPath": {}}
       and others.get("Priority") == allow.get("Priority", 0) + 1,
       "after the allow-list, every other address is blocked but on the receipts' paths")
receipt_paths = [p for p in rest_paths if p != "/send-sms"]
expect(receipt_paths and all(re.fullmatch(regex.get("RegexString", "$^"), f"/{stage}{p}") for p in receipt_paths)
       and not any(re.fullmatch(regex.get("RegexString", "$^"), f"/{stage}{p}") for p in
                   ["/send-sms", "/send-sms/twilio/status", "/twilio/status/x"])
       and not re.fullmatch(regex.get("RegexString", "$^"), "/send-sms"),
       "the allow-list leaves open exactly the receipts' paths (the stage in front), never /send-sms")
props = alarm("WafBlockedRequestsAlarm")
dims = {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}
expect(resources.get("WafBlockedRequestsAlarm", {}).get("Condition") == "UsesWaf"
       and ("AWS/WAFV2", "BlockedRequests", ("WebACL", "Region", "Rule")) in metrics_of(props)
       and dims.get("Rule") == "ALL" and dims.get("WebACL") == acl_props.get("Name"),
       "WafBlockedRequestsAlarm watches the web ACL's blocked requests, all rules")
fires_on(props, "GreaterThanOrEqualToThreshold")
expect("wafv2" in body.lower() and "blockedrequests" in body.lower(), "the dashboard shows WAF's blocked requests")
rest_base = variables.get("RECEIPTS_BASE_URL", {}).get("Fn::If", [None, {}])[1]
expect(isinstance(rest_base, dict) and rest_base.get("Fn::If", [None])[0] == "UsesWaf"
       and rest_base["Fn::If"][1] == {"Fn::Sub": f"https://${{RestApi}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{stage}"},
       "with EdgeProtection=waf RECEIPTS_BASE_URL is the REST API's, its stage included")
expect(condition_holds("SetsTwilioCallbacks", EdgeProtection="waf", SmsProvider="twilio", TwilioFrom="+15005550006")
       and condition_holds("SetsVonageReceipts", EdgeProtection="waf", SmsProvider="vonage", VonageFrom="Acme"),
       "the receipts come through the REST API with EdgeProtection=waf")
outputs = template.get("Outputs", {})
expect(outputs.get("GatewayUrl", {}).get("Condition") == "HasAnApi", "GatewayUrl with either API")
for name in ["GatewayUrl", "RegisterCommand", "CheckCommand"]:
    expect(f"${{RestApi}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{stage}/send-sms" in repr(outputs.get(name))
           and "UsesWaf" in repr(outputs.get(name)), f"{name} gives the REST API's URL with EdgeProtection=waf")

# Customer-managed keys (KmsKeyArn, #33): everything the stack stores is encrypted with it when it is
# set (and the AWS-owned or AWS-managed keys otherwise), and the function may decrypt with it exactly
# through the services that store with it for the function.
KMS_IF = {"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]}
expect(condition_holds("HasKmsKey", KmsKeyArn=KMS) and not condition_holds("HasKmsKey"), "HasKmsKey holds with KmsKeyArn only")
kms_pattern = template["Parameters"].get("KmsKeyArn", {}).get("AllowedPattern", "$^")
expect(re.fullmatch(kms_pattern, KMS) and re.fullmatch(kms_pattern, "")
       and not re.fullmatch(kms_pattern, "arn:aws:kms:us-east-1:123456789012:alias/gateway"),
       "KmsKeyArn takes a key ARN (IAM and CloudWatch Logs want the key, not an alias)")
STORED = {"AWS::SecretsManager::Secret": "KmsKeyId", "AWS::Logs::LogGroup": "KmsKeyId",
          "AWS::SNS::Topic": "KmsMasterKeyId", "AWS::Serverless::Function": "KmsKeyArn",
          "AWS::Lambda::Function": "KmsKeyArn"}
for name, resource in resources.items():
    if resource["Type"] in STORED:
        expect(resource.get("Properties", {}).get(STORED[resource["Type"]]) == KMS_IF,
               f"{name} is encrypted with KmsKeyArn when it is set ({STORED[resource['Type']]})")
    if resource["Type"] == "AWS::DynamoDB::Table":
        expect(resource.get("Properties", {}).get("SSESpecification") ==
               {"Fn::If": ["HasKmsKey", {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": {"Ref": "KmsKeyArn"}},
                           {"Ref": "AWS::NoValue"}]},
               f"{name} is encrypted with KmsKeyArn when it is set, with the AWS-owned key otherwise (no block)")
kms_statements = [s_ for s_ in statements(policies) if any(a.startswith("kms:") for a in action_list(s_))]
expect(len(kms_statements) == 1, f"{len(kms_statements)} policy statements grant KMS actions, not one")
for statement in kms_statements:
    via = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService", [])
    expect(action_list(statement) == ["kms:Decrypt"] and statement.get("Resource") == {"Ref": "KmsKeyArn"}
           and sorted(v.get("Fn::Sub", "").split(".")[0] for v in via) == ["dynamodb", "lambda", "secretsmanager"],
           "the function may kms:Decrypt with KmsKeyArn only, through Secrets Manager, DynamoDB and Lambda")
    paths = list(paths_to(policies, statement))
    expect(paths and all("HasKmsKey" in path for path in paths), "the KMS statement exists with KmsKeyArn only")

# Lambda refuses a function whose environment is over 4 KB, half-way through a deploy: every
# combination of parameters the template accepts must fit. Lambda measures the variables as one JSON
# object, {"KEY":"value",...}, in UTF-8 bytes (the Lambda quotas page: "Function environment
# variables: 4 KB, for all environment variables associated with the function, in aggregate";
# the refusal quotes the "String measured", a JSON object with its quotes escaped, and LocalStack
# emulates it as len(json.dumps(variables, separators=(",", ":")).encode()) > 4096). So each
# variable costs its key, its worst value, and 6 bytes of quotes, colon and comma; a value's
# character costs what JSON makes of it (a quote or a backslash two bytes, a control character six).
# A parameter's worst value is its MaxLength of its dearest admitted character (the patterns admit
# printable ASCII at most), one of its AllowedValues, or a Number's MaxValue; what the stack names
# itself has the bounds below.
ENV_LIMIT = 4096
try:
    from re import _parser as _sre_parse, _constants as _sre
except ImportError:  # Python before 3.11
    import sre_parse as _sre_parse, sre_constants as _sre

ANY_CHARACTER = 12  # an astral character escaped as two \uXXXX: what a free-text pattern may cost
# Bounds of what the stack names itself (documented limits): the function is "${AWS::StackName}-gateway"
# and Lambda's names are at most 64 characters, so a stack name is at most 56; Regions are at most 14
# characters today (ap-southeast-4, us-isob-east-1), counted 20; partitions 10 (aws-us-gov), counted 16.
STACK_NAME, REGION, PARTITION, URL_SUFFIX, ACCOUNT = 56, 20, 16, 16, 12
# A name CloudFormation generates is "<LogicalId>-<random>" or "<stack>-<LogicalId>-<random>",
# the random part at most 13 characters: counted as the longer. A secret's ARN adds "-" and 6.
def generated_name(logical_id):
    return STACK_NAME + 1 + len(logical_id) + 1 + 13


GENERATED_SECRET_ARN = len("arn::secretsmanager:::secret:") + PARTITION + REGION + ACCOUNT + 7
NAME_BOUNDS = {
    "AWS::StackName": STACK_NAME, "AWS::Region": REGION, "AWS::Partition": PARTITION,
    "AWS::URLSuffix": URL_SUFFIX, "AWS::AccountId": ACCOUNT,
    "HttpApi": 10,  # an API id: 10 characters
    "RestApi": 10,
    "ApiKeySecret": GENERATED_SECRET_ARN + generated_name("ApiKeySecret"),
    "FingerprintKeySecret": GENERATED_SECRET_ARN + generated_name("FingerprintKeySecret"),
    "IdempotencyTable": generated_name("IdempotencyTable"),
    "EumConfigurationSet": STACK_NAME + len("-gateway"),  # its ConfigurationSetName
}


def json_bytes(text):
    return len(json.dumps(text, ensure_ascii=False)[1:-1].encode("utf-8"))


def admitted_cost(pattern):
    """The most bytes JSON makes of one character that the pattern admits anywhere."""
    worst = 1

    def chars(items):
        nonlocal worst
        for op, value in items:
            if op is _sre.LITERAL:
                worst = max(worst, json_bytes(chr(value)))
            elif op is _sre.RANGE:
                low, high = value
                worst = max(worst, ANY_CHARACTER if high > 0x7E else max(json_bytes(chr(c)) for c in range(low, high + 1)))
            elif op is _sre.CATEGORY or op in (_sre.NOT_LITERAL, _sre.ANY, _sre.NEGATE):
                # \s, \d, \w admit more than ASCII in some engines, [^...] and . almost anything
                worst = ANY_CHARACTER
            elif op in (_sre.SUBPATTERN,):
                chars(value[-1])
            elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
                chars(value[2])
            elif op is _sre.BRANCH:
                for branch in value[1]:
                    chars(branch)
            elif op is _sre.IN:
                chars(value)
            # AT (anchors) and ASSERT / ASSERT_NOT (look-ahead) consume no character of their own
    chars(_sre_parse.parse(pattern))
    return worst


def parameter_bound(name):
    parameter = template["Parameters"][name]
    if "AllowedValues" in parameter:
        return max(json_bytes(str(v)) for v in parameter["AllowedValues"])
    if parameter["Type"] == "Number":
        expect("MaxValue" in parameter, f"{name} feeds the environment without a MaxValue")
        return len(str(parameter.get("MaxValue", "x" * 1000)))
    expect("MaxLength" in parameter, f"{name} feeds the environment without a MaxLength")
    per_character = admitted_cost(parameter["AllowedPattern"]) if "AllowedPattern" in parameter else ANY_CHARACTER
    return int(parameter.get("MaxLength", 1000)) * per_character


def name_bound(name):
    if name in template["Parameters"]:
        return parameter_bound(name)
    expect(name in NAME_BOUNDS, f"the environment names {name}, which has no bound here")
    return NAME_BOUNDS.get(name, 1000)


def value_bound(node):
    """The most bytes a variable's value can take in Lambda's measure."""
    if isinstance(node, (str, int, float)):
        return json_bytes(str(node))
    (function, argument), = node.items()
    if function == "Ref":
        return name_bound(argument)
    if function == "Fn::If":
        return max(value_bound(argument[1]), value_bound(argument[2]))
    if function == "Fn::Sub":
        text = argument if isinstance(argument, str) else argument[0]
        names = re.findall(r"\$\{([^}]+)\}", text)
        return json_bytes(re.sub(r"\$\{[^}]+\}", "", text)) + sum(name_bound(n) for n in names)
    if function == "Fn::GetAtt":
        return name_bound(".".join(argument) if isinstance(argument, list) else argument)
    expect(False, f"the environment has a {function} this check cannot bound")
    return 1000


# Variables a rule never lets be set together: only the larger counts.
EXCLUSIVE = [("ALLOWED_COUNTRIES", "BLOCKED_COUNTRIES")]
expect(not rules_accept(AllowedCountries="US", BlockedCountries="RU"),
       "a rule keeps AllowedCountries and BlockedCountries apart (the environment's bound counts one)")


def environment_bound():
    """{variable: its worst bytes, key and punctuation included}, and the whole object's."""
    each = {key: len(json.dumps(key)) + 1 + 2 + value_bound(value) + 1 for key, value in variables.items()}
    total = sum(each.values()) - 1 + 2  # no comma after the last; the braces
    for pair in EXCLUSIVE:
        total -= min(each[key] - len(json.dumps(key)) - 4 for key in pair)
    return each, total


env_each, env_total = environment_bound()
expect(env_total <= ENV_LIMIT,
       f"the function's environment can reach {env_total} bytes, over Lambda's {ENV_LIMIT} (check_template.py --env-size)")

# What monitoring costs a month, computed from the template and published_metrics.json rather than
# estimated: docs/operations.md holds this block verbatim (scripts/test fails when they part), and
# `check_template.py template.yaml --cost` prints it.
ALARM_METRIC_USD, CUSTOM_METRIC_USD, DASHBOARD_USD = 0.10, 0.30, 3.00


def alarm_metrics(**overrides):
    """(alarm names, alarm metrics) of the alarms that exist under these parameter values."""
    values = parameter_values(**overrides)
    names, count = [], 0
    for name, resource in sorted(alarms.items()):
        condition = resource.get("Condition")
        if condition and not evaluate({"Condition": condition}, values):
            continue
        names.append(name)
        count += max(1, sum(1 for q in resource["Properties"].get("Metrics", []) if "MetricStat" in q))
    return names, count


def cost_block():
    rows = []
    for label, overrides in [("the defaults (SNS, the idempotency table)", {}),
                             ("Twilio then SNS, with receipts, prefix and country limits, an alert address",
                              {"SmsProvider": "twilio,sns", "TwilioFrom": "+15005550006", "MaxSmsPerPrefixPerHour": "100",
                               "MaxSmsPerCountryPerHour": "1000", "AlarmEmail": "ops@example.com"})]:
        names, count = alarm_metrics(**overrides)
        rows.append(f"| {label} | {len(names)} | {count} | ${count * ALARM_METRIC_USD:.2f} |")
    ours = published["MosaicSmsGateway"]
    always = sum(1 for sets in ours.values() if ["FunctionName"] in sets)
    lines = [
        "<!-- computed by tests/support/check_template.py from template.yaml; scripts/test checks it -->",
        "| set-up | alarms | alarm metrics | alarms a month |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
        f"Alarms cost ${ALARM_METRIC_USD:.2f} a month per metric they watch (a rate watches two or three). The",
        f"dashboard costs ${DASHBOARD_USD:.2f} a month (an account's first three are free). The function's own",
        f"metrics cost ${CUSTOM_METRIC_USD:.2f} a month each, prorated by the hour they get data: {always} by",
        "`FunctionName` alone, plus one per provider and outcome that occurs, one per refusal reason and",
        "country that occurs, one per provider that refuses our set-up, the segments sent (`SmsSegments`)",
        "one per provider and one per provider and country, and with receipts two per provider plus two per",
        "provider and country. A month of SNS alone that sees `sent`, `provider_failed` and",
        "`recipient_rejected` through SNS and `invalid_number` held, refused in 10 countries and sending",
        f"to 10, is {always} + 4 + 20 + 11 = {always + 4 + 20 + 11} metrics, ${(always + 4 + 20 + 11) * CUSTOM_METRIC_USD:.2f}; a pumping attack's countries add a",
        "few cents each, for the hours they last.",
        "<!-- end of the computed block -->",
    ]
    return "\n".join(lines)


# What each passcode costs in requests, computed from what the stack does by default with each
# provider: one HTTP API request, one invocation and the table's writes for the send; with Twilio or
# Vonage (DeliveryReceipts on by default) one more of each per status callback or receipt; with End User Messaging (EumDeliveryEvents on
# by default) its final event written to a log group; every request's log lines and access-log line.
# Public US East prices, arm64.
LAMBDA_REQUEST_USD, LAMBDA_GB_SECOND_USD = 0.20 / 1e6, 0.0000133334
HTTP_API_REQUEST_USD, LOG_INGESTED_USD_PER_GB = 1.00 / 1e6, 0.50
# EdgeProtection=waf: a REST API request ($3.50 per million, the first 333 million a month) and a
# request through AWS WAF ($0.60 per million) in place of the HTTP API's; the web ACL $5.00 a month,
# each rule (a managed rule group counts as one) $1.00 a month (https://aws.amazon.com/api-gateway/pricing/,
# https://aws.amazon.com/waf/pricing/).
REST_API_REQUEST_USD, WAF_REQUEST_USD, WEB_ACL_USD, WAF_RULE_USD = 3.50 / 1e6, 0.60 / 1e6, 5.00, 1.00
# The idempotency table (on by default), on demand: a send claims (PutItem), counts the number
# (UpdateItem; MaxSmsPerNumberPerHour is 10 by default) and finishes (UpdateItem), items under 1 KB.
DYNAMODB_WRITE_USD, DYNAMODB_WRITES_PER_SEND = 0.625 / 1e6, 3
# Measured or estimated, low and high (docs/measured.md): a warm send waits 50-150 ms on its
# provider, a callback needs an HMAC and a line (a few ms, billed by the millisecond); the function
# logs 1-2 KB per send (its request line, the EMF line, Lambda's platform lines) and 0.5-1 KB per
# callback, the access log 0.4 KB a request, an End User Messaging event 1-2 KB.
SEND_SECONDS, CALLBACK_SECONDS = (0.05, 0.15), (0.002, 0.01)
SEND_LOG_KB, CALLBACK_LOG_KB, ACCESS_LOG_KB, EUM_EVENT_KB = (1, 2), (0.5, 1), 0.4, (1, 2)
# Twilio calls the StatusCallback at each change of status after the message's first
# (https://www.twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks): sent and
# delivered (or undelivered) from a From number; queued first with a Messaging Service; sending
# too on some routes: two to four.
TWILIO_CALLBACKS = (2, 4)
# Vonage posts a receipt when the carrier reports a final status, sometimes after an `accepted` or
# `buffered` one (https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts): one or two,
# once its signature secret is in the gateway secret.
VONAGE_RECEIPTS = (1, 2)
# Infobip posts one delivery report per message, with its final status (no intermediate reports
# unless asked for, https://www.infobip.com/docs/api/channels/sms/sms-messaging/outbound-sms/send-sms-messages,
# webhooks.delivery.intermediateReport), once there is a fingerprint key for the token.
INFOBIP_RECEIPTS = (1, 1)
EUM_ARN = "arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-1"
PROVIDER_SETUPS = [
    ("Amazon SNS", {}),
    ("Twilio, status callbacks on", {"SmsProvider": "twilio", "TwilioFrom": "+15005550006"}),
    ("End User Messaging, delivery events on", {"SmsProvider": "end-user-messaging", "EumOriginationIdentityArn": EUM_ARN}),
    ("Salesforce Marketing Cloud", {"SmsProvider": "salesforce-marketing-cloud", "SfmcSubdomain": "mc1",
                                    "SfmcDefinitionKey": "otp"}),
    ("Vonage, signed receipts on", {"SmsProvider": "vonage", "VonageFrom": "Acme"}),
    ("Infobip, delivery reports on", {"SmsProvider": "infobip", "InfobipBaseUrl": "xyz12.api.infobip.com",
                                      "InfobipFrom": "Acme"}),
    ("Amazon SNS, behind AWS WAF (`EdgeProtection=waf`)", {"EdgeProtection": "waf"}),
    ("Twilio, status callbacks on, behind AWS WAF", {"SmsProvider": "twilio", "TwilioFrom": "+15005550006",
                                                     "EdgeProtection": "waf"}),
]


def per_passcode(overrides):
    """(requests per passcode (low, high), USD per passcode (low, high)) under these parameters."""
    values = parameter_values(**overrides)
    memory_gb = int(values["FunctionMemoryMb"]) / 1024
    api = condition_holds("HasAnApi", **overrides)
    api_request_usd = (REST_API_REQUEST_USD + WAF_REQUEST_USD if condition_holds("UsesWaf", **overrides)
                       else HTTP_API_REQUEST_USD)
    callbacks = (TWILIO_CALLBACKS if condition_holds("SetsTwilioCallbacks", **overrides)
                 else VONAGE_RECEIPTS if condition_holds("SetsVonageReceipts", **overrides)
                 else INFOBIP_RECEIPTS if condition_holds("SetsInfobipReceipts", **overrides) else (0, 0))
    events = condition_holds("CreatesEumEvents", **overrides)
    table = condition_holds("CreateIdempotencyTable", **overrides)
    requests, usd = [], []
    for i in (0, 1):
        invocations = 1 + callbacks[i]
        seconds = SEND_SECONDS[i] + callbacks[i] * CALLBACK_SECONDS[i]
        log_kb = SEND_LOG_KB[i] + callbacks[i] * CALLBACK_LOG_KB[i] + (EUM_EVENT_KB[i] if events else 0)
        log_kb += invocations * ACCESS_LOG_KB if api else 0
        requests.append(invocations)
        usd.append(invocations * LAMBDA_REQUEST_USD + memory_gb * seconds * LAMBDA_GB_SECOND_USD
                   + (invocations * api_request_usd if api else 0) + log_kb / 1e6 * LOG_INGESTED_USD_PER_GB
                   + (DYNAMODB_WRITES_PER_SEND * DYNAMODB_WRITE_USD if table else 0))
    return requests, usd


def money_range(low, high, digits):
    return f"${low:.{digits}f}" if f"{low:.{digits}f}" == f"{high:.{digits}f}" else f"${low:.{digits}f}–${high:.{digits}f}"


def request_cost_block():
    rows = []
    for label, overrides in PROVIDER_SETUPS:
        expect(rules_accept(**overrides), f"the rules refuse the cost table's set-up {label}")
        (low_n, high_n), (low, high) = per_passcode(overrides)
        counted = f"{low_n}" if low_n == high_n else f"{low_n}–{high_n}"
        rows.append(f"| {label} | {counted} | {money_range(low * 1e3, high * 1e3, 4)} | {money_range(low * 1e6, high * 1e6, 2)} |")
    plain, listed = (len(waf_rules()), len(waf_rules(AllowedSourceCidrs=CIDRS)))
    return "\n".join([
        "<!-- computed by tests/support/check_template.py (--cost) from template.yaml; scripts/test checks it -->",
        "| provider, the stack's defaults | API requests and invocations per passcode | per 1,000 passcodes | per 1 million |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
        f"Behind AWS WAF each request is a REST API request (${REST_API_REQUEST_USD * 1e6:.2f} per million) and a web ACL",
        f"request (${WAF_REQUEST_USD * 1e6:.2f} per million) instead of an HTTP API request (${HTTP_API_REQUEST_USD * 1e6:.2f}), and the web",
        f"ACL costs ${WEB_ACL_USD + plain * WAF_RULE_USD:.2f} a month ({plain} rules), ${WEB_ACL_USD + listed * WAF_RULE_USD:.2f} with `AllowedSourceCidrs` ({listed} rules).",
        "<!-- end of the computed requests -->",
    ])


root = os.path.dirname(sys.argv[1] if len(sys.argv) > 1 else "template.yaml") or "."
operations = open(os.path.join(root, "docs", "operations.md")).read()
configuration = open(os.path.join(root, "docs", "configuration.md")).read()
if "--env-size" in sys.argv:
    for key, size in sorted(env_each.items(), key=lambda kv: -kv[1]):
        print(f"{size:5} {key}")
    print(f"{env_total:5} bytes at worst, of Lambda's {ENV_LIMIT}")
    sys.exit(0)
if "--cost" in sys.argv:
    print(request_cost_block())
    print()
    print(cost_block())
    sys.exit(0)
# docs/operations.md's alarm table lists exactly the template's alarms (by name, without "Alarm").
table = operations[operations.index("## Alarms"):operations.index("## The dashboard")]
listed = set()
for row in table.splitlines():
    if row.startswith("| `"):
        listed |= set(re.findall(r"`([A-Za-z0-9]+)`", row.split("|")[1]))
expect(listed == {n[: -len("Alarm")] for n in alarms},
       f"docs/operations.md's alarm table lists {sorted(listed)}, the template has {sorted(n[:-5] for n in alarms)}")

# Every parameter is in docs/configuration.md's parameter table, with each variable whose value the
# template's Environment takes from it (a !Ref or a ${} in a !Sub, through any !If) in its second column.
def references(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref":
                yield value
            elif key == "Fn::Sub" and isinstance(value, str):
                yield from re.findall(r"\$\{([A-Za-z0-9]+)\}", value)
            else:
                yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


parameter_rows = {}
table = configuration[configuration.index("## Template parameters"):]
for row in table.splitlines():
    if row.startswith("| `"):
        cells = row.split(" | ")
        for name in re.findall(r"`([A-Za-z0-9]+)`", row.split("|")[1]):
            parameter_rows[name] = set(re.findall(r"`([A-Z0-9_]+)`", cells[1]))
for name in template["Parameters"]:
    expect(name in parameter_rows, f"docs/configuration.md's parameter table does not describe the parameter {name}")
for variable, value in resources["GatewayFunction"]["Properties"]["Environment"]["Variables"].items():
    for name in references(value):
        if name in template["Parameters"]:
            expect(variable in parameter_rows.get(name, set()),
                   f"docs/configuration.md: the parameter {name} sets {variable}, which its row's variable column does not name")
expect(request_cost_block() in operations, "docs/operations.md's cost per passcode is not what the template gives (run check_template.py template.yaml --cost)")
expect(cost_block() in operations, "docs/operations.md's monitoring cost block is not what the template gives (run check_template.py template.yaml --cost)")

if failures:
    for failure in failures:
        print(f"template.yaml: {failure}")
    sys.exit(1)
print("template.yaml: alarms, permissions, idempotency table and settings as promised")
