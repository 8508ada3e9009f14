ALTER TABLE orders DROP COLUMN checkout_payment_method;
