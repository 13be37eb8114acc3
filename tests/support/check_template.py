"""Checks what template.yaml promises operators, beyond what cfn-lint can know: each alarm watches the
metric that sees its failure, with the condition that fires on it; the function's permissions are
the ones its code uses, and no more; the idempotency table has the schema the code writes, and the
function's environment carries the settings. Run by scripts/test with the .venv's Python (cfn-lint's YAML
reader understands CloudFormation's short tags). Prints one line per failure and exits 1, or says ok.
"""
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


def fires_on(props, operator, threshold=None):
    expect(props.get("ComparisonOperator") == operator, f"alarm compares with {props.get('ComparisonOperator')}, not {operator}")
    if threshold is not None:
        expect(props.get("Threshold") == threshold, f"alarm threshold is {props.get('Threshold')}, not {threshold}")
    expect(props.get("TreatMissingData") == "notBreaching", "a quiet hour must not alarm")
    expect("AlarmActions" in props, "the alarm notifies the alarm topic")


props = alarm("SmsFailedAlarm")
expect(("MosaicSmsGateway", "SmsFailed", ("FunctionName",)) in metrics_of(props), "SmsFailedAlarm watches SmsFailed")
fires_on(props, "GreaterThanOrEqualToThreshold", 1)

props = alarm("ProviderMisconfiguredAlarm")
expect(("MosaicSmsGateway", "ProviderMisconfigured", ("FunctionName",)) in metrics_of(props),
       "ProviderMisconfiguredAlarm watches ProviderMisconfigured")
fires_on(props, "GreaterThanOrEqualToThreshold", 1)

props = alarm("SmsRejectedRateAlarm")
watched = metrics_of(props)
expect(("MosaicSmsGateway", "SmsRejected", ("FunctionName",)) in watched and
       ("MosaicSmsGateway", "SmsSent", ("FunctionName",)) in watched, "SmsRejectedRateAlarm is a rate of SmsRejected over sends")
expect(any("rejected" in q.get("Expression", "") for q in props.get("Metrics", [])), "SmsRejectedRateAlarm computes the rate")
fires_on(props, "GreaterThanThreshold", {"Ref": "RejectedRateAlarmPercent"})

props = alarm("SmsSpendAlarm")
expect(("AWS/SNS", "SMSMonthToDateSpentUSD", ()) in metrics_of(props), "SmsSpendAlarm watches SNS's month-to-date spend")
fires_on(props, "GreaterThanOrEqualToThreshold", {"Ref": "SmsSpendAlarmUsd"})
expect(resources["SmsSpendAlarm"].get("Condition") == "HasSpendAlarm", "SmsSpendAlarm only when asked for")

props = alarm("SmsDeliveryRateAlarm")
expect(("AWS/SNS", "SMSSuccessRate", ()) in metrics_of(props), "SmsDeliveryRateAlarm watches SNS's delivery success rate")
fires_on(props, "LessThanThreshold", {"Ref": "DeliveryRateAlarmPercent"})

for name, metric in [("FunctionErrorsAlarm", "Errors"), ("FunctionThrottlesAlarm", "Throttles")]:
    props = alarm(name)
    expect(("AWS/Lambda", metric, ("FunctionName",)) in metrics_of(props), f"{name} watches Lambda's {metric}")
    fires_on(props, "GreaterThanOrEqualToThreshold", 1)
    # These watch the function whatever fronts it: no condition on the HTTP API.
    expect("Condition" not in resources[name], f"{name} exists with EnableFunctionUrl=only too")

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


for statement in statements(policies):
    if statement["Action"] == "sms-voice:SendTextMessage":
        expect("*" not in repr(statement["Resource"]) and "EumOriginationIdentityArn" in repr(statement["Resource"]),
               "SendTextMessage is scoped to the configured origination identity")

# The idempotency table: the schema src/idempotency.rs writes (pk, a string, no sort key; expires_at in
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

# The function's environment: the table's name (empty without it) and the settings, from their parameters.
variables = resources["GatewayFunction"]["Properties"]["Environment"]["Variables"]
expect(variables.get("IDEMPOTENCY_TABLE") == {"Fn::If": [table_condition, {"Ref": "IdempotencyTable"}, ""]},
       "IDEMPOTENCY_TABLE names the table when it exists and is empty otherwise")
for variable, parameter in [("DEDUPE_WINDOW_SECONDS", "DedupeWindowSeconds"),
                            ("MAX_SMS_PER_NUMBER_PER_HOUR", "MaxSmsPerNumberPerHour"),
                            ("ALLOWED_COUNTRIES", "AllowedCountries"),
                            ("BLOCKED_COUNTRIES", "BlockedCountries"),
                            ("SENDER_BY_COUNTRY", "SenderByCountry")]:
    expect(variables.get(variable) == {"Ref": parameter} and parameter in template["Parameters"],
           f"{variable} comes from the {parameter} parameter")
expect(any("AllowedCountries" in repr(a.get("Assert")) and "BlockedCountries" in repr(a.get("Assert"))
           for rule in template.get("Rules", {}).values() for a in rule.get("Assertions", [])),
       "a rule refuses AllowedCountries and BlockedCountries together")
expect(any(o.get("Value") == {"Ref": "IdempotencyTable"} and o.get("Condition") == table_condition
           for o in template.get("Outputs", {}).values()),
       "an output names the idempotency table when it exists")

if failures:
    for failure in failures:
        print(f"template.yaml: {failure}")
    sys.exit(1)
print("template.yaml: alarms, permissions, idempotency table and settings as promised")
