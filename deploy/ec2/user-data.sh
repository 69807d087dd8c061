#!/bin/bash
# EC2 user data for a GPU worker host (runs as root on every boot when installed as below).
#
# The AMI is expected to hold the console in /opt/console (with its .venv), /etc/console/env with
# REDIS_URL (rediss://), REDIS_AUTH_SECRET_ARN, DYNAMODB_TABLE, AWS_REGION and CLASSIFIER_MODEL, and deploy/systemd/console-worker.service
# installed as /etc/systemd/system/console-worker.service. The web tier starts and stops this
# instance (docs/power.md); at each boot this script tells the worker which instance it is on, so
# the fleet panel can match workers to instances and the idle check can see which instance is busy.
#
# To run it on every start, not only the first boot, pass it as a cloud-config part with
#   #cloud-config
#   cloud_final_modules: [[scripts-user, always]]
set -euo pipefail

ENV_FILE=/etc/console/env
token=$(curl -sS -X PUT "http://169.254.169.254/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 300")
instance_id=$(curl -sS -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/instance-id)

install -d -m 0750 -o root -g console /etc/console
touch "$ENV_FILE"
# Replace, never append twice: this runs on every boot.
sed -i '/^COMPUTE_INSTANCE_ID=/d' "$ENV_FILE"
echo "COMPUTE_INSTANCE_ID=$instance_id" >> "$ENV_FILE"

# Redis's AUTH token lives in Secrets Manager (console.yaml's RedisAuthToken, which this role may read):
# with REDIS_AUTH_SECRET_ARN in the env file, fetch it fresh at every boot, so a rotated token is picked up.
secret_arn=$(sed -n 's/^REDIS_AUTH_SECRET_ARN=//p' "$ENV_FILE" | tail -n 1)
if [ -n "$secret_arn" ]; then
  region=$(sed -n 's/^AWS_REGION=//p' "$ENV_FILE" | tail -n 1)
  password=$(/opt/console/.venv/bin/python -c '
import sys, boto3
client = boto3.client("secretsmanager", region_name=sys.argv[2] or None)
print(client.get_secret_value(SecretId=sys.argv[1])["SecretString"])' "$secret_arn" "$region")
  sed -i '/^REDIS_PASSWORD=/d' "$ENV_FILE"
  printf 'REDIS_PASSWORD=%s\n' "$password" >> "$ENV_FILE"
fi
chown root:console "$ENV_FILE"
chmod 0640 "$ENV_FILE"

systemctl daemon-reload
systemctl enable console-worker.service
systemctl restart console-worker.service
