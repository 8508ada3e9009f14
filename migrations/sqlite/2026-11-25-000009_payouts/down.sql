DROP TABLE payout_status_history;
DROP TABLE payouts;
