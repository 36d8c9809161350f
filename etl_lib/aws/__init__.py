"""AWS clients. boto3 honours ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>``
(e.g. ``AWS_ENDPOINT_URL_DYNAMODB``) by itself, so every adapter can be pointed at a
local emulator such as moto without code changes."""
