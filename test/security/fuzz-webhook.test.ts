import { describeWebhookFuzz } from './fuzz.ts';

describeWebhookFuzz({ route: 'POST /webhook/error-budget-alert' });
