/** The core masks secrets exactly as plugins do: one redaction, in the SDK. */
export { redact, redactText, secretValues } from '@bt-platform/sdk';
