-- The payment method a checkout named (a provider id such as pm_…, never card
-- data), so the sweep, or a later payment, can finish creating the order's
-- PaymentIntent with exactly the request the checkout sent: the same
-- idempotency key with other parameters would be refused by the provider.
ALTER TABLE orders ADD COLUMN checkout_payment_method TEXT;
