//! The email templates (askama, files under `src/notify/templates/emails/`,
//! compiled into the binary and checked against their data at build time) and
//! their rendering: a subject, a text part and an HTML part each.
//!
//! Each file has a struct borrowing the typed message it shows, so a template
//! naming a field its message lacks does not build. Escaping follows the
//! file's extension (`src/web/askama.toml`, askama's defaults): HTML parts
//! escape every value, so a shop name or a product title cannot add markup;
//! `.txt` parts (text and subject) are plain text, not escaped. Subjects are
//! cleaned of control characters, so no value can end the header and start
//! another.
//!
//! The templates keep their whitespace as written (`whitespace = "preserve"`):
//! the pages' `minimize` would fold the text parts' blank lines and indents.

use askama::Template;

use super::messages::{
    AccountExists, DisputeClosed, DisputeOpened, Message, OrderConfirmation, PartCanceled,
    PartDelivered, PartShipped, PasswordChanged, PayoutNotice, RefundIssued, ReturnNotice,
    SellerNewOrder, SellerRefund, ShopNotice, SignInAttempts, UnshippedPart,
    WebhookEndpointDisabled,
};

/// Longest subject, in characters (RFC 5322 recommends lines under 78; the
/// encoder folds longer ones, this keeps them readable).
pub const SUBJECT_CHARS_MAX: usize = 150;

/// The template files and the structs that render them: each field borrows
/// its data (`Name = "emails/…" { field: Type, … };`).
macro_rules! email_templates {
    ($($name:ident = $path:tt { $($field:ident: $ty:ty),+ $(,)? };)+) => {$(
        #[derive(Template)]
        #[template(path = $path, config = "src/web/askama.toml", whitespace = "preserve")]
        struct $name<'a> {
            $($field: &'a $ty),+
        }
    )+};
}

email_templates! {
    OrderConfirmationSubject = "emails/order_confirmation.subject.txt" { order: OrderConfirmation };
    OrderConfirmationText = "emails/order_confirmation.txt" { order: OrderConfirmation };
    OrderConfirmationHtml = "emails/order_confirmation.html" { order: OrderConfirmation };

    SellerNewOrderSubject = "emails/seller_new_order.subject.txt" { order: SellerNewOrder };
    SellerNewOrderText = "emails/seller_new_order.txt" { order: SellerNewOrder };
    SellerNewOrderHtml = "emails/seller_new_order.html" { order: SellerNewOrder };

    RefundIssuedSubject = "emails/refund_issued.subject.txt" { refund: RefundIssued };
    RefundIssuedText = "emails/refund_issued.txt" { refund: RefundIssued };
    RefundIssuedHtml = "emails/refund_issued.html" { refund: RefundIssued };

    PayoutPaidSubject = "emails/payout_paid.subject.txt" { payout: PayoutNotice };
    PayoutPaidText = "emails/payout_paid.txt" { payout: PayoutNotice };
    PayoutPaidHtml = "emails/payout_paid.html" { payout: PayoutNotice };

    PayoutFailedSubject = "emails/payout_failed.subject.txt" { payout: PayoutNotice };
    PayoutFailedText = "emails/payout_failed.txt" { payout: PayoutNotice };
    PayoutFailedHtml = "emails/payout_failed.html" { payout: PayoutNotice };

    OnboardingIncompleteSubject = "emails/onboarding_incomplete.subject.txt" { shop: ShopNotice };
    OnboardingIncompleteText = "emails/onboarding_incomplete.txt" { shop: ShopNotice, onboarding_url: str };
    OnboardingIncompleteHtml = "emails/onboarding_incomplete.html" { shop: ShopNotice, onboarding_url: str };

    AccountRestrictedSubject = "emails/account_restricted.subject.txt" { shop: ShopNotice };
    AccountRestrictedText = "emails/account_restricted.txt" { shop: ShopNotice, onboarding_url: str };
    AccountRestrictedHtml = "emails/account_restricted.html" { shop: ShopNotice, onboarding_url: str };

    SignInAttemptsSubject = "emails/sign_in_attempts.subject.txt" { attempts: SignInAttempts };
    SignInAttemptsText = "emails/sign_in_attempts.txt" { attempts: SignInAttempts };
    SignInAttemptsHtml = "emails/sign_in_attempts.html" { attempts: SignInAttempts };

    PartShippedSubject = "emails/part_shipped.subject.txt" { parcel: PartShipped };
    PartShippedText = "emails/part_shipped.txt" { parcel: PartShipped };
    PartShippedHtml = "emails/part_shipped.html" { parcel: PartShipped };

    PartDeliveredSubject = "emails/part_delivered.subject.txt" { delivery: PartDelivered };
    PartDeliveredText = "emails/part_delivered.txt" { delivery: PartDelivered };
    PartDeliveredHtml = "emails/part_delivered.html" { delivery: PartDelivered };

    PartCanceledSubject = "emails/part_canceled.subject.txt" { cancel: PartCanceled };
    PartCanceledText = "emails/part_canceled.txt" { cancel: PartCanceled };
    PartCanceledHtml = "emails/part_canceled.html" { cancel: PartCanceled };

    SellerPartCanceledSubject = "emails/seller_part_canceled.subject.txt" { cancel: PartCanceled };
    SellerPartCanceledText = "emails/seller_part_canceled.txt" { cancel: PartCanceled };
    SellerPartCanceledHtml = "emails/seller_part_canceled.html" { cancel: PartCanceled };

    PartLateSubject = "emails/part_late.subject.txt" { late: UnshippedPart };
    PartLateText = "emails/part_late.txt" { late: UnshippedPart };
    PartLateHtml = "emails/part_late.html" { late: UnshippedPart };

    PartShipSoonSubject = "emails/part_ship_soon.subject.txt" { part: UnshippedPart };
    PartShipSoonText = "emails/part_ship_soon.txt" { part: UnshippedPart };
    PartShipSoonHtml = "emails/part_ship_soon.html" { part: UnshippedPart };

    SellerRefundSubject = "emails/seller_refund.subject.txt" { refund: SellerRefund };
    SellerRefundText = "emails/seller_refund.txt" { refund: SellerRefund };
    SellerRefundHtml = "emails/seller_refund.html" { refund: SellerRefund };

    DisputeOpenedSubject = "emails/dispute_opened.subject.txt" { dispute: DisputeOpened };
    DisputeOpenedText = "emails/dispute_opened.txt" { dispute: DisputeOpened };
    DisputeOpenedHtml = "emails/dispute_opened.html" { dispute: DisputeOpened };

    DisputeClosedSubject = "emails/dispute_closed.subject.txt" { dispute: DisputeClosed };
    DisputeClosedText = "emails/dispute_closed.txt" { dispute: DisputeClosed };
    DisputeClosedHtml = "emails/dispute_closed.html" { dispute: DisputeClosed };

    ReturnRequestedSubject = "emails/return_requested.subject.txt" { notice: ReturnNotice };
    ReturnRequestedText = "emails/return_requested.txt" { notice: ReturnNotice };
    ReturnRequestedHtml = "emails/return_requested.html" { notice: ReturnNotice };

    ReturnReceiptSubject = "emails/return_receipt.subject.txt" { notice: ReturnNotice };
    ReturnReceiptText = "emails/return_receipt.txt" { notice: ReturnNotice };
    ReturnReceiptHtml = "emails/return_receipt.html" { notice: ReturnNotice };

    ReturnApprovedSubject = "emails/return_approved.subject.txt" { notice: ReturnNotice };
    ReturnApprovedText = "emails/return_approved.txt" { notice: ReturnNotice };
    ReturnApprovedHtml = "emails/return_approved.html" { notice: ReturnNotice };

    ReturnRefusedSubject = "emails/return_refused.subject.txt" { notice: ReturnNotice };
    ReturnRefusedText = "emails/return_refused.txt" { notice: ReturnNotice };
    ReturnRefusedHtml = "emails/return_refused.html" { notice: ReturnNotice };

    ReturnShippedBackSubject = "emails/return_shipped_back.subject.txt" { notice: ReturnNotice };
    ReturnShippedBackText = "emails/return_shipped_back.txt" { notice: ReturnNotice };
    ReturnShippedBackHtml = "emails/return_shipped_back.html" { notice: ReturnNotice };

    ReturnReceivedSubject = "emails/return_received.subject.txt" { notice: ReturnNotice };
    ReturnReceivedText = "emails/return_received.txt" { notice: ReturnNotice };
    ReturnReceivedHtml = "emails/return_received.html" { notice: ReturnNotice };

    VerifyEmailText = "emails/verify_email.txt" { link: str };
    VerifyEmailHtml = "emails/verify_email.html" { link: str };

    ResetPasswordText = "emails/reset_password.txt" { link: str };
    ResetPasswordHtml = "emails/reset_password.html" { link: str };

    AccountExistsText = "emails/account_exists.txt" { notice: AccountExists, link: str };
    AccountExistsHtml = "emails/account_exists.html" { notice: AccountExists, link: str };

    PasswordChangedSubject = "emails/password_changed.subject.txt" { notice: PasswordChanged };
    PasswordChangedText = "emails/password_changed.txt" { notice: PasswordChanged, link: str };
    PasswordChangedHtml = "emails/password_changed.html" { notice: PasswordChanged, link: str };

    WebhookEndpointDisabledSubject = "emails/webhook_endpoint_disabled.subject.txt" { endpoint: WebhookEndpointDisabled };
    WebhookEndpointDisabledText = "emails/webhook_endpoint_disabled.txt" { endpoint: WebhookEndpointDisabled };
    WebhookEndpointDisabledHtml = "emails/webhook_endpoint_disabled.html" { endpoint: WebhookEndpointDisabled };
}

/// The subject line: rendered, every control character (CR and LF above all)
/// turned into a space, runs of spaces collapsed, capped in length.
///
/// # Errors
/// A value failed to format (does not happen with the messages' strings).
pub fn subject(message: &Message) -> askama::Result<String> {
    let rendered = match message {
        Message::OrderConfirmation(order) => OrderConfirmationSubject { order }.render(),
        Message::SellerNewOrder(order) => SellerNewOrderSubject { order }.render(),
        Message::RefundIssued(refund) => RefundIssuedSubject { refund }.render(),
        Message::PayoutPaid(payout) => PayoutPaidSubject { payout }.render(),
        Message::PayoutFailed(payout) => PayoutFailedSubject { payout }.render(),
        Message::OnboardingIncomplete(shop) => OnboardingIncompleteSubject { shop }.render(),
        Message::AccountRestricted(shop) => AccountRestrictedSubject { shop }.render(),
        Message::SignInAttempts(attempts) => SignInAttemptsSubject { attempts }.render(),
        Message::PartShipped(parcel) => PartShippedSubject { parcel }.render(),
        Message::PartDelivered(delivery) => PartDeliveredSubject { delivery }.render(),
        Message::PartCanceled(cancel) => PartCanceledSubject { cancel }.render(),
        Message::SellerPartCanceled(cancel) => SellerPartCanceledSubject { cancel }.render(),
        Message::PartLate(late) => PartLateSubject { late }.render(),
        Message::PartShipSoon(part) => PartShipSoonSubject { part }.render(),
        Message::SellerRefund(refund) => SellerRefundSubject { refund }.render(),
        Message::DisputeOpened(dispute) => DisputeOpenedSubject { dispute }.render(),
        Message::DisputeClosed(dispute) => DisputeClosedSubject { dispute }.render(),
        Message::ReturnRequested(notice) => ReturnRequestedSubject { notice }.render(),
        Message::ReturnReceipt(notice) => ReturnReceiptSubject { notice }.render(),
        Message::ReturnApproved(notice) => ReturnApprovedSubject { notice }.render(),
        Message::ReturnRefused(notice) => ReturnRefusedSubject { notice }.render(),
        Message::ReturnShippedBack(notice) => ReturnShippedBackSubject { notice }.render(),
        Message::ReturnReceived(notice) => ReturnReceivedSubject { notice }.render(),
        // Their whole subject is fixed text: no value, no template.
        Message::VerifyEmail(_) => Ok("Confirm your email address for Bazaar".to_owned()),
        Message::ResetPassword(_) => Ok("Reset your Bazaar password".to_owned()),
        Message::AccountExists(_) => {
            Ok("Someone tried to open a Bazaar account with your address".to_owned())
        }
        Message::PasswordChanged(notice) => PasswordChangedSubject { notice }.render(),
        Message::WebhookEndpointDisabled(endpoint) => {
            WebhookEndpointDisabledSubject { endpoint }.render()
        }
    }?;
    let cleaned: String = rendered
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    Ok(words.join(" ").chars().take(SUBJECT_CHARS_MAX).collect())
}

/// The text and HTML parts. `url` is the link the emails that carry one
/// show: a fresh onboarding link ([`Message::onboarding_account`]), an
/// account's single-use link ([`Message::account_link`]) or the storefront's
/// password-reset page; the others ignore it.
///
/// # Errors
/// The message needs a link and has none; a value failed to format (does
/// not happen with the messages' strings).
pub fn bodies(message: &Message, url: Option<&str>) -> anyhow::Result<(String, String)> {
    let link =
        || url.ok_or_else(|| anyhow::anyhow!("the {} email needs a link", message.template()));
    let parts = match message {
        Message::OrderConfirmation(order) => both(
            &OrderConfirmationText { order },
            &OrderConfirmationHtml { order },
        ),
        Message::SellerNewOrder(order) => {
            both(&SellerNewOrderText { order }, &SellerNewOrderHtml { order })
        }
        Message::RefundIssued(refund) => {
            both(&RefundIssuedText { refund }, &RefundIssuedHtml { refund })
        }
        Message::PayoutPaid(payout) => both(&PayoutPaidText { payout }, &PayoutPaidHtml { payout }),
        Message::PayoutFailed(payout) => {
            both(&PayoutFailedText { payout }, &PayoutFailedHtml { payout })
        }
        Message::OnboardingIncomplete(shop) => {
            let onboarding_url = link()?;
            both(
                &OnboardingIncompleteText {
                    shop,
                    onboarding_url,
                },
                &OnboardingIncompleteHtml {
                    shop,
                    onboarding_url,
                },
            )
        }
        Message::AccountRestricted(shop) => {
            let onboarding_url = link()?;
            both(
                &AccountRestrictedText {
                    shop,
                    onboarding_url,
                },
                &AccountRestrictedHtml {
                    shop,
                    onboarding_url,
                },
            )
        }
        Message::SignInAttempts(attempts) => both(
            &SignInAttemptsText { attempts },
            &SignInAttemptsHtml { attempts },
        ),
        Message::PartShipped(parcel) => {
            both(&PartShippedText { parcel }, &PartShippedHtml { parcel })
        }
        Message::PartDelivered(delivery) => both(
            &PartDeliveredText { delivery },
            &PartDeliveredHtml { delivery },
        ),
        Message::PartCanceled(cancel) => {
            both(&PartCanceledText { cancel }, &PartCanceledHtml { cancel })
        }
        Message::SellerPartCanceled(cancel) => both(
            &SellerPartCanceledText { cancel },
            &SellerPartCanceledHtml { cancel },
        ),
        Message::PartLate(late) => both(&PartLateText { late }, &PartLateHtml { late }),
        Message::PartShipSoon(part) => both(&PartShipSoonText { part }, &PartShipSoonHtml { part }),
        Message::SellerRefund(refund) => {
            both(&SellerRefundText { refund }, &SellerRefundHtml { refund })
        }
        Message::DisputeOpened(dispute) => both(
            &DisputeOpenedText { dispute },
            &DisputeOpenedHtml { dispute },
        ),
        Message::DisputeClosed(dispute) => both(
            &DisputeClosedText { dispute },
            &DisputeClosedHtml { dispute },
        ),
        Message::ReturnRequested(notice) => both(
            &ReturnRequestedText { notice },
            &ReturnRequestedHtml { notice },
        ),
        Message::ReturnReceipt(notice) => {
            both(&ReturnReceiptText { notice }, &ReturnReceiptHtml { notice })
        }
        Message::ReturnApproved(notice) => both(
            &ReturnApprovedText { notice },
            &ReturnApprovedHtml { notice },
        ),
        Message::ReturnRefused(notice) => {
            both(&ReturnRefusedText { notice }, &ReturnRefusedHtml { notice })
        }
        Message::ReturnShippedBack(notice) => both(
            &ReturnShippedBackText { notice },
            &ReturnShippedBackHtml { notice },
        ),
        Message::ReturnReceived(notice) => both(
            &ReturnReceivedText { notice },
            &ReturnReceivedHtml { notice },
        ),
        Message::VerifyEmail(_) => {
            let link = link()?;
            both(&VerifyEmailText { link }, &VerifyEmailHtml { link })
        }
        Message::ResetPassword(_) => {
            let link = link()?;
            both(&ResetPasswordText { link }, &ResetPasswordHtml { link })
        }
        Message::AccountExists(notice) => {
            let link = link()?;
            both(
                &AccountExistsText { notice, link },
                &AccountExistsHtml { notice, link },
            )
        }
        Message::PasswordChanged(notice) => {
            let link = link()?;
            both(
                &PasswordChangedText { notice, link },
                &PasswordChangedHtml { notice, link },
            )
        }
        Message::WebhookEndpointDisabled(endpoint) => both(
            &WebhookEndpointDisabledText { endpoint },
            &WebhookEndpointDisabledHtml { endpoint },
        ),
    };
    Ok(parts?)
}

fn both(text: &impl Template, html: &impl Template) -> askama::Result<(String, String)> {
    Ok((text.render()?, html.render()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::messages::{AccountLink, LineCount, LineItem, ShopLines};

    fn payout(shop_name: &str) -> PayoutNotice {
        PayoutNotice {
            shop_name: shop_name.into(),
            payout_id: "po_1".into(),
            amount: "1.00 USD".into(),
            arrival_date: "2026-12-02".into(),
            failure_code: None,
            failure_message: None,
            action: None,
        }
    }

    fn shop_notice() -> ShopNotice {
        ShopNotice {
            shop_id: "shop_1".into(),
            shop_name: "Acme".into(),
            account_id: "acct_1".into(),
            requirements: vec!["external_account".into()],
            disabled_reason: Some("requirements.past_due".into()),
        }
    }

    fn line() -> LineItem {
        LineItem {
            title: "Vase".into(),
            sku: "V-1".into(),
            quantity: 2,
            unit_price: "1.50 USD".into(),
            amount: "3.00 USD".into(),
        }
    }

    fn seller_new_order(shop_name: &str) -> SellerNewOrder {
        SellerNewOrder {
            order_id: "ord_1".into(),
            shop_name: shop_name.into(),
            lines: vec![line()],
            subtotal: "3.00 USD".into(),
            platform_fee: "0.30 USD".into(),
            seller_amount: "2.70 USD".into(),
            ship_to: vec!["Ann".into(), "1 Road".into()],
            shipping: None,
            ship_by: None,
        }
    }

    fn count(title: &str) -> LineCount {
        LineCount {
            title: title.into(),
            sku: "V-1".into(),
            quantity: 2,
        }
    }

    fn parcel(shop_name: &str) -> PartShipped {
        PartShipped {
            order_id: "ord_1".into(),
            shop_name: shop_name.into(),
            lines: vec![count("Vase")],
            carrier: "UPS".into(),
            tracking_number: "1Z999".into(),
            tracking_url: Some("https://track.example/t?n=1Z999&lang=en".into()),
            more_to_follow: false,
        }
    }

    fn delivery(automatic: bool, window_days: i64) -> PartDelivered {
        PartDelivered {
            order_id: "ord_1".into(),
            shop_name: "Acme".into(),
            delivered_at: "2026-12-20 10:00 UTC".into(),
            automatic,
            automatic_after_days: 14,
            return_window_days: window_days,
            return_until: (window_days > 0).then(|| "2027-01-19 10:00 UTC".into()),
            shop_email: "help@acme.example".into(),
        }
    }

    fn cancellation(late: bool, by_buyer: bool) -> PartCanceled {
        PartCanceled {
            order_id: "ord_1".into(),
            shop_name: "Acme".into(),
            lines: vec![count("Vase")],
            reason: "out of stock".into(),
            late,
            by_buyer,
            ship_by: Some("2026-12-10 10:00 UTC".into()),
            refund: Some("4.00 USD".into()),
            refunded_before: None,
            paid: "4.00 USD".into(),
        }
    }

    fn part_late() -> UnshippedPart {
        UnshippedPart {
            order_id: "ord_1".into(),
            shop_name: "Acme".into(),
            ship_by: "2026-12-10 10:00 UTC".into(),
            lines: vec![count("Vase")],
            ship_to: vec!["Ann".into(), "1 Road".into()],
        }
    }

    fn ship_soon() -> UnshippedPart {
        UnshippedPart {
            order_id: "ord_1".into(),
            shop_name: "Acme".into(),
            ship_by: "2026-12-10 10:00 UTC".into(),
            lines: vec![count("Vase")],
            ship_to: vec!["Ann".into(), "1 Road".into()],
        }
    }

    fn seller_refund() -> SellerRefund {
        SellerRefund {
            order_id: "ord_1".into(),
            refund_id: "rfd_1".into(),
            shop_name: "Acme".into(),
            amount: "3.00 USD".into(),
            seller_share: "2.70 USD".into(),
        }
    }

    fn dispute_opened(fee: Option<&str>) -> DisputeOpened {
        DisputeOpened {
            order_id: "ord_1".into(),
            dispute_id: "dp_1".into(),
            shop_name: "Acme".into(),
            disputed: "5.00 USD".into(),
            taken: "2.85 USD".into(),
            fee: fee.map(str::to_owned),
        }
    }

    fn dispute_closed(won: bool) -> DisputeClosed {
        DisputeClosed {
            order_id: "ord_1".into(),
            dispute_id: "dp_1".into(),
            shop_name: "Acme".into(),
            won,
            taken: "2.85 USD".into(),
        }
    }

    fn return_notice() -> ReturnNotice {
        ReturnNotice {
            order_id: "ord_1".into(),
            return_id: "ret_1".into(),
            shop_name: "Acme".into(),
            shop_email: "help@acme.example".into(),
            lines: vec![count("Vase")],
            reason: "too small".into(),
            refusal_reason: Some("used".into()),
            return_address: vec!["Acme Returns".into(), "2 Lane".into()],
            carrier: Some("DHL".into()),
            tracking_number: Some("JD01".into()),
            tracking_url: Some("https://track.example/JD01".into()),
        }
    }

    /// Every message of the life after the sale (shipped, delivered,
    /// cancelled, late, returns), with `notice`'s values.
    fn fulfilment_messages(
        shipped: PartShipped,
        delivered: PartDelivered,
        canceled: PartCanceled,
        late: UnshippedPart,
        notice: &ReturnNotice,
    ) -> Vec<Message> {
        vec![
            Message::PartShipped(shipped),
            Message::PartDelivered(delivered),
            Message::PartCanceled(canceled.clone()),
            Message::SellerPartCanceled(canceled),
            Message::PartLate(late),
            Message::ReturnRequested(notice.clone()),
            Message::ReturnReceipt(notice.clone()),
            Message::ReturnApproved(notice.clone()),
            Message::ReturnRefused(notice.clone()),
            Message::ReturnShippedBack(notice.clone()),
            Message::ReturnReceived(notice.clone()),
        ]
    }

    /// One message per template.
    fn every_message() -> Vec<Message> {
        vec![
            Message::OrderConfirmation(OrderConfirmation {
                order_id: "ord_1".into(),
                shops: vec![ShopLines {
                    shop_name: "Acme".into(),
                    lines: vec![line()],
                    shipping: None,
                    subtotal: "3.00 USD".into(),
                }],
                total: "3.00 USD".into(),
                ship_to: vec!["Ann".into()],
            }),
            Message::SellerNewOrder(seller_new_order("Acme")),
            Message::SellerNewOrder(SellerNewOrder {
                shipping: Some("1.00 USD".into()),
                ship_by: Some("2026-12-10 10:00 UTC".into()),
                ..seller_new_order("Acme")
            }),
            Message::RefundIssued(RefundIssued {
                order_id: "ord_1".into(),
                refund_id: "re_1".into(),
                amount: "1.00 USD".into(),
                refunded_total: "1.00 USD".into(),
                order_total: "3.00 USD".into(),
            }),
            Message::PayoutPaid(payout("Acme")),
            Message::PayoutFailed(PayoutNotice {
                failure_code: Some("account_closed".into()),
                action: Some("update the bank account".into()),
                ..payout("Acme")
            }),
            Message::OnboardingIncomplete(shop_notice()),
            Message::AccountRestricted(shop_notice()),
            Message::SignInAttempts(SignInAttempts {
                failures: 5,
                window_minutes: 15,
                last_address: "203.0.113.9".into(),
                has_second_factor: true,
            }),
            Message::PartShipped(PartShipped {
                tracking_url: None,
                more_to_follow: true,
                ..parcel("Acme")
            }),
            Message::PartDelivered(delivery(true, 0)),
            Message::PartCanceled(PartCanceled {
                refund: None,
                ship_by: None,
                ..cancellation(true, false)
            }),
            Message::PartCanceled(PartCanceled {
                refund: Some("3.00 USD".into()),
                refunded_before: Some("1.00 USD".into()),
                ..cancellation(false, false)
            }),
            Message::SellerPartCanceled(cancellation(false, false)),
            Message::PartShipSoon(ship_soon()),
            Message::SellerRefund(seller_refund()),
            Message::DisputeOpened(dispute_opened(Some("0.15 USD"))),
            Message::DisputeOpened(dispute_opened(None)),
            Message::DisputeClosed(dispute_closed(true)),
            Message::DisputeClosed(dispute_closed(false)),
            Message::ReturnRefused(ReturnNotice {
                refusal_reason: None,
                ..return_notice()
            }),
            Message::ReturnApproved(ReturnNotice {
                return_address: vec![],
                ..return_notice()
            }),
            Message::ReturnShippedBack(ReturnNotice {
                carrier: None,
                tracking_number: None,
                tracking_url: None,
                ..return_notice()
            }),
            Message::VerifyEmail(AccountLink {
                user_id: "usr_1".into(),
                next: Some("/checkout".into()),
            }),
            Message::ResetPassword(AccountLink {
                user_id: "usr_1".into(),
                next: None,
            }),
            Message::AccountExists(AccountExists {
                from_address: "203.0.113.9".into(),
            }),
            Message::PasswordChanged(PasswordChanged {
                how: "reset".into(),
                from_address: "203.0.113.9".into(),
                sessions_ended: 2,
            }),
            Message::PasswordChanged(PasswordChanged {
                how: "changed".into(),
                from_address: "203.0.113.9".into(),
                sessions_ended: 0,
            }),
            Message::WebhookEndpointDisabled(WebhookEndpointDisabled {
                endpoint_id: "we_1".into(),
                url: "https://example.com/hooks".into(),
                shop_id: Some("shop_1".into()),
                reason: "the endpoint answered 410 Gone".into(),
            }),
        ]
        .into_iter()
        .chain(fulfilment_messages(
            parcel("Acme"),
            delivery(false, 30),
            cancellation(true, true),
            part_late(),
            &return_notice(),
        ))
        .collect()
    }

    #[test]
    fn every_template_file_has_a_message() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/notify/templates/emails");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|entry| {
                // Every email has an HTML part (some have a fixed subject, no file).
                let name = entry.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(".html")
                    .filter(|base| *base != "layout")
                    .map(str::to_owned)
            })
            .collect();
        files.sort_unstable();
        let mut covered: Vec<String> = every_message()
            .iter()
            .map(|m| m.template().to_owned())
            .collect();
        covered.sort_unstable();
        covered.dedup();
        assert_eq!(covered, files, "every_message() names every template");
        for message in every_message() {
            let stored = message.data().to_string();
            let read = Message::from_stored(message.template(), &stored).unwrap();
            assert_eq!(read.template(), message.template());
            assert_eq!(read.data(), message.data());
        }
    }

    #[test]
    fn every_template_renders() {
        for message in every_message() {
            let name = message.template();
            let subject = subject(&message).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!subject.is_empty(), "{name}");
            let (text, html) = bodies(&message, Some("https://connect.example/setup"))
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert!(!text.is_empty() && !text.contains("{{"), "{name}: {text}");
            assert!(html.starts_with("<!DOCTYPE html>"), "{name}: {html}");
            assert!(html.ends_with("</html>"), "{name}: {html}");
        }
    }

    #[test]
    fn a_subject_cannot_carry_a_header() {
        let message =
            Message::SellerNewOrder(seller_new_order("Evil\r\nBcc: victim@example.com\u{0}"));
        let subject = subject(&message).unwrap();
        assert!(!subject.contains(['\r', '\n', '\u{0}']), "{subject:?}");
        assert!(
            subject.contains("Evil Bcc: victim@example.com"),
            "{subject:?}"
        );
    }

    #[test]
    fn a_subject_is_capped() {
        let message = Message::PayoutPaid(payout(&"x".repeat(300)));
        assert_eq!(
            subject(&message).unwrap().chars().count(),
            SUBJECT_CHARS_MAX
        );
    }

    #[test]
    fn html_parts_escape_values() {
        let message = Message::PayoutPaid(payout("<script>alert(1)</script>"));
        let (text, html) = bodies(&message, None).unwrap();
        assert!(text.contains("<script>"), "text parts are plain text");
        assert!(
            !html.contains("<script>") && !html.contains("</script>"),
            "{html}"
        );
        assert!(
            html.contains("script") && html.contains("alert(1)"),
            "{html}"
        );
        let subject = subject(&message).unwrap();
        assert!(subject.starts_with("<script>"), "subjects are plain text");
    }

    #[test]
    fn text_parts_keep_their_layout() {
        let message = Message::SellerNewOrder(seller_new_order("Tom's & <Co>"));
        let (text, _) = bodies(&message, None).unwrap();
        assert_eq!(
            text,
            "Tom's & <Co> has a new paid order: ord_1.\n\
             \n\
             Your lines:\n  \
             2 x Vase (V-1) at 1.50 USD = 3.00 USD\n\
             \n\
             Subtotal:      3.00 USD\n\
             Platform fee:  0.30 USD\n\
             You are owed:  2.70 USD\n\
             \n\
             Ship to:\n  \
             Ann\n  \
             1 Road\n\
             \n\
             Your share is transferred to your connected account and paid out on your payout schedule."
        );
    }

    #[test]
    fn empty_optional_values_are_left_out() {
        let message = Message::PayoutFailed(PayoutNotice {
            failure_code: Some(String::new()),
            failure_message: None,
            action: Some("retry".into()),
            ..payout("Acme")
        });
        let (text, html) = bodies(&message, None).unwrap();
        assert!(text.contains("account failed.\n\nThe money"), "{text}");
        assert!(
            !html.contains("<code>") && !html.contains("The bank said"),
            "{html}"
        );
        let notice = ShopNotice {
            requirements: vec![],
            disabled_reason: None,
            ..shop_notice()
        };
        let (text, html) = bodies(&Message::AccountRestricted(notice), Some("https://x")).unwrap();
        assert!(
            !text.contains("needs:") && !html.contains("<ul>"),
            "{text}{html}"
        );
        assert!(text.contains("Acme's account: until"), "{text}");
    }

    #[test]
    fn an_onboarding_email_without_its_link_is_an_error() {
        let message = Message::OnboardingIncomplete(shop_notice());
        assert!(bodies(&message, None).is_err());
        let (text, html) = bodies(&message, Some("https://connect.example/s?a=1&b=2")).unwrap();
        assert!(
            text.ends_with("\nhttps://connect.example/s?a=1&b=2"),
            "{text}"
        );
        assert!(
            html.contains("href=\"https://connect.example/s?a=1&"),
            "{html}"
        );
        assert!(
            !html.contains("a=1&b=2"),
            "the link is escaped in HTML: {html}"
        );
    }

    #[test]
    fn a_new_order_shows_its_shipping_and_ship_by_date() {
        let message = Message::SellerNewOrder(SellerNewOrder {
            shipping: Some("1.00 USD".into()),
            ship_by: Some("2026-12-10 10:00 UTC".into()),
            ..seller_new_order("Acme")
        });
        let (text, html) = bodies(&message, None).unwrap();
        assert!(
            text.contains(
                "= 3.00 USD\n\nShipping:      1.00 USD\nSubtotal:      3.00 USD\n\
                 Platform fee:  0.30 USD\nYou are owed:  2.70 USD\n\n\
                 Ship by:       2026-12-10 10:00 UTC\n\nShip to:\n"
            ),
            "{text}"
        );
        assert!(html.contains("Ship by 2026-12-10 10:00 UTC"), "{html}");
        assert!(html.contains(">Shipping</td>"), "{html}");
        let (text, html) =
            bodies(&Message::SellerNewOrder(seller_new_order("Acme")), None).unwrap();
        assert!(
            !text.contains("Ship by") && !text.contains("Shipping"),
            "{text}"
        );
        assert!(
            !html.contains("Ship by") && !html.contains("Shipping"),
            "{html}"
        );

        let confirmation = |shipping: Option<&str>| {
            Message::OrderConfirmation(OrderConfirmation {
                order_id: "ord_1".into(),
                shops: vec![ShopLines {
                    shop_name: "Acme".into(),
                    lines: vec![line()],
                    shipping: shipping.map(str::to_owned),
                    subtotal: "4.00 USD".into(),
                }],
                total: "4.00 USD".into(),
                ship_to: vec!["Ann".into()],
            })
        };
        let (text, html) = bodies(&confirmation(Some("1.00 USD")), None).unwrap();
        assert!(
            text.contains("= 3.00 USD\n  Shipping: 1.00 USD\n  Subtotal: 4.00 USD\n"),
            "{text}"
        );
        assert!(html.contains(">Shipping</td>"), "{html}");
        let (text, html) = bodies(&confirmation(None), None).unwrap();
        assert!(
            text.contains("= 3.00 USD\n  Subtotal: 4.00 USD\n"),
            "{text}"
        );
        assert!(!html.contains("Shipping</td>"), "{html}");
    }

    #[test]
    fn a_message_stored_before_shipping_reads_back() {
        let mut stored = Message::SellerNewOrder(seller_new_order("Acme")).data();
        let object = stored.as_object_mut().unwrap();
        object.remove("shipping");
        object.remove("ship_by");
        let read = Message::from_stored("seller_new_order", &stored.to_string()).unwrap();
        let Message::SellerNewOrder(order) = read else {
            panic!("a new order")
        };
        assert!(order.shipping.is_none() && order.ship_by.is_none());
    }

    #[test]
    fn a_parcel_email_keeps_its_layout_and_its_link() {
        let (text, html) = bodies(&Message::PartShipped(parcel("Acme")), None).unwrap();
        assert_eq!(
            text,
            "Your items from Acme for order ord_1 are on their way.\n\
             \n\
             In this parcel:\n  \
             2 x Vase (V-1)\n\
             \n\
             Carrier:          UPS\n\
             Tracking number:  1Z999\n\
             Follow it here:   https://track.example/t?n=1Z999&lang=en\n\
             \n\
             We will email you again when your items from Acme have arrived."
        );
        assert!(
            html.contains("href=\"https://track.example/t?n=1Z999&#38;lang=en\"")
                || html.contains("href=\"https://track.example/t?n=1Z999&amp;lang=en\""),
            "{html}"
        );
        let unlinked = Message::PartShipped(PartShipped {
            tracking_url: None,
            more_to_follow: true,
            ..parcel("Acme")
        });
        let (text, html) = bodies(&unlinked, None).unwrap();
        assert!(
            !text.contains("Follow it") && !html.contains("<a "),
            "{text}{html}"
        );
        assert!(
            text.contains("Tracking number:  1Z999\n\nMore items from Acme will follow"),
            "{text}"
        );
        assert_eq!(
            subject(&unlinked).unwrap(),
            "Your items from Acme are on their way (order ord_1)"
        );
    }

    #[test]
    fn a_delivery_says_how_it_was_counted_and_how_long_returns_last() {
        let (text, _) = bodies(&Message::PartDelivered(delivery(false, 30)), None).unwrap();
        assert!(text.starts_with("Your items from Acme for order ord_1 have arrived (delivered on 2026-12-20 10:00 UTC)."), "{text}");
        assert!(
            text.contains("return items until 2027-01-19 10:00 UTC (30 days after delivery)"),
            "{text}"
        );
        assert!(!text.contains("automatically"), "{text}");
        let automatic = Message::PartDelivered(delivery(true, 0));
        let (text, html) = bodies(&automatic, None).unwrap();
        assert!(text.contains("marked delivered automatically"), "{text}");
        assert!(text.contains("in the 14 days after they shipped"), "{text}");
        assert!(text.contains("Acme does not take returns."), "{text}");
        assert!(!text.contains("until"), "{text}");
        assert!(html.contains("automatically") && html.contains("does not take returns"));
        assert!(subject(&automatic).unwrap().contains("count as delivered"));
    }

    #[test]
    fn a_cancellation_tells_the_buyer_the_refund_and_the_seller_why() {
        let (text, _) = bodies(&Message::PartCanceled(cancellation(true, true)), None).unwrap();
        assert!(text.contains("cancelled at your request"), "{text}");
        assert!(text.contains("\n  2 x Vase (V-1)\n"), "{text}");
        assert!(text.contains("Reason: out of stock"), "{text}");
        assert!(
            text.contains(
                "\n\nYou are refunded 4.00 USD, everything you paid to Acme, shipping included. \
                 A separate email confirms the refund"
            ),
            "{text}"
        );
        let (text, html) = bodies(
            &Message::PartCanceled(PartCanceled {
                refund: Some("3.00 USD".into()),
                refunded_before: Some("1.00 USD".into()),
                ..cancellation(false, false)
            }),
            None,
        )
        .unwrap();
        assert!(!text.contains("at your request"), "{text}");
        assert!(
            text.contains(
                "You are refunded 3.00 USD, the rest of the 4.00 USD you paid to Acme, \
                 shipping included (1.00 USD was refunded before)."
            ),
            "{text}"
        );
        assert!(html.contains("<strong>3.00 USD</strong>"), "{html}");
        let (text, _) = bodies(
            &Message::PartCanceled(PartCanceled {
                refund: None,
                ..cancellation(false, false)
            }),
            None,
        )
        .unwrap();
        assert!(
            text.ends_with("Everything you paid to Acme for this order was refunded before."),
            "{text}"
        );

        let by_buyer = Message::SellerPartCanceled(cancellation(true, true));
        let (text, html) = bodies(&by_buyer, None).unwrap();
        assert!(
            text.contains("cancelled by the buyer: do not ship"),
            "{text}"
        );
        assert!(
            text.contains("The buyer could cancel it because it had not shipped by its ship-by date (2026-12-10 10:00 UTC)."),
            "{text}"
        );
        assert!(html.contains("The buyer could cancel it"), "{html}");
        assert!(subject(&by_buyer)
            .unwrap()
            .ends_with("is cancelled by the buyer"));
        let (text, _) = bodies(
            &Message::SellerPartCanceled(cancellation(true, false)),
            None,
        )
        .unwrap();
        assert!(
            text.contains("\nIt had not shipped by its ship-by date"),
            "{text}"
        );
        assert!(!text.contains("by the buyer"), "{text}");
        let (text, _) = bodies(
            &Message::SellerPartCanceled(cancellation(false, false)),
            None,
        )
        .unwrap();
        assert!(!text.contains("ship-by"), "{text}");
    }

    #[test]
    fn the_seller_hears_of_a_late_part_with_what_to_ship() {
        let message = Message::PartLate(part_late());
        let (text, _) = bodies(&message, None).unwrap();
        assert!(
            text.starts_with("Acme's part of order ord_1 was due to ship by 2026-12-10 10:00 UTC"),
            "{text}"
        );
        assert!(
            text.contains("Still to ship:\n  2 x Vase (V-1)\n\nShip to:\n  Ann\n  1 Road\n"),
            "{text}"
        );
        assert!(text.contains("the buyer may now cancel it"), "{text}");
    }

    #[test]
    fn each_step_of_a_return_says_its_own_thing() {
        let notice = return_notice();
        let text = |message: Message| bodies(&message, None).unwrap().0;
        let requested = text(Message::ReturnRequested(notice.clone()));
        assert!(
            requested.contains("(return ret_1):\n  2 x Vase (V-1)\n"),
            "{requested}"
        );
        assert!(
            requested.contains("The buyer's reason: too small"),
            "{requested}"
        );
        let receipt = text(Message::ReturnReceipt(notice.clone()));
        assert!(receipt.contains("Your reason: too small"), "{receipt}");
        let approved = text(Message::ReturnApproved(notice.clone()));
        assert!(
            approved.contains("To:\n  Acme Returns\n  2 Lane\n"),
            "{approved}"
        );
        let no_address = text(Message::ReturnApproved(ReturnNotice {
            return_address: vec![],
            ..notice.clone()
        }));
        assert!(
            no_address.contains("where to send them: help@acme.example"),
            "{no_address}"
        );
        let refused = text(Message::ReturnRefused(notice.clone()));
        assert!(refused.contains("Their reason: used"), "{refused}");
        let unexplained = text(Message::ReturnRefused(ReturnNotice {
            refusal_reason: Some(String::new()),
            ..notice.clone()
        }));
        assert!(!unexplained.contains("Their reason"), "{unexplained}");
        let shipped = text(Message::ReturnShippedBack(notice.clone()));
        assert!(
            shipped.contains("Carrier:          DHL\nTracking number:  JD01\nFollow it here:   https://track.example/JD01\n"),
            "{shipped}"
        );
        let untracked = text(Message::ReturnShippedBack(ReturnNotice {
            carrier: None,
            tracking_number: None,
            tracking_url: None,
            ..notice.clone()
        }));
        assert!(
            untracked.contains("(V-1)\n\nWhen the parcel arrives"),
            "{untracked}"
        );
        let received = text(Message::ReturnReceived(notice.clone()));
        assert!(received.contains("Your refund follows"), "{received}");
        assert!(
            !received.contains("USD"),
            "the refund's own email has the amount"
        );
    }

    #[test]
    fn the_seller_hears_what_refunds_and_disputes_take_and_what_to_ship_soon() {
        let refund = Message::SellerRefund(seller_refund());
        let (text, html) = bodies(&refund, None).unwrap();
        assert!(
            text.starts_with(
                "The buyer of order ord_1 was refunded 3.00 USD of Acme's part (refund rfd_1)."
            ),
            "{text}"
        );
        assert!(
            text.contains("Taken back from your share:  2.70 USD\n"),
            "{text}"
        );
        assert!(html.contains("<strong>2.70 USD</strong>"), "{html}");
        assert_eq!(
            subject(&refund).unwrap(),
            "A refund on order ord_1 takes 2.70 USD from Acme"
        );

        let (text, _) = bodies(
            &Message::DisputeOpened(dispute_opened(Some("0.15 USD"))),
            None,
        )
        .unwrap();
        assert!(text.contains("(5.00 USD disputed, dispute dp_1)"), "{text}");
        assert!(
            text.contains("share:  2.85 USD\nOf which the dispute fee:       0.15 USD\n"),
            "{text}"
        );
        let (text, _) = bodies(&Message::DisputeOpened(dispute_opened(None)), None).unwrap();
        assert!(!text.contains("dispute fee"), "{text}");

        let won = Message::DisputeClosed(dispute_closed(true));
        let (text, _) = bodies(&won, None).unwrap();
        assert!(
            text.contains(
                "was won.\n\nThe 2.85 USD it took from Acme's share is given back to you."
            ),
            "{text}"
        );
        assert_eq!(subject(&won).unwrap(), "The dispute on order ord_1 was won");
        let lost = Message::DisputeClosed(dispute_closed(false));
        let (text, html) = bodies(&lost, None).unwrap();
        assert!(
            text.contains(
                "was lost.\n\nThe 2.85 USD it took from Acme's share stays with the buyer."
            ),
            "{text}"
        );
        assert!(html.contains("<strong>lost</strong>"), "{html}");

        let soon = Message::PartShipSoon(ship_soon());
        let (text, _) = bodies(&soon, None).unwrap();
        assert!(
            text.contains("Still to ship:\n  2 x Vase (V-1)\n\nShip to:\n  Ann\n  1 Road\n"),
            "{text}"
        );
        assert_eq!(
            subject(&soon).unwrap(),
            "Order ord_1 for Acme must ship by 2026-12-10 10:00 UTC"
        );
    }

    #[test]
    fn fulfilment_emails_escape_every_value_in_html() {
        let evil = "<b>x</b>";
        let notice = ReturnNotice {
            order_id: evil.into(),
            return_id: evil.into(),
            shop_name: evil.into(),
            shop_email: evil.into(),
            lines: vec![LineCount {
                title: evil.into(),
                sku: evil.into(),
                quantity: 1,
            }],
            reason: evil.into(),
            refusal_reason: Some(evil.into()),
            return_address: vec![evil.into()],
            carrier: Some(evil.into()),
            tracking_number: Some(evil.into()),
            tracking_url: Some("\"><b>x</b>".into()),
        };
        let shipped = PartShipped {
            lines: notice.lines.clone(),
            carrier: evil.into(),
            tracking_number: evil.into(),
            tracking_url: Some("\"><b>x</b>".into()),
            ..parcel(evil)
        };
        let delivered = PartDelivered {
            shop_email: evil.into(),
            ..delivery(true, 30)
        };
        let canceled = PartCanceled {
            shop_name: evil.into(),
            lines: notice.lines.clone(),
            reason: evil.into(),
            ..cancellation(true, true)
        };
        let late = UnshippedPart {
            shop_name: evil.into(),
            lines: notice.lines.clone(),
            ship_to: vec![evil.into()],
            ..part_late()
        };
        for message in fulfilment_messages(shipped, delivered, canceled, late, &notice) {
            let name = message.template();
            let (text, html) = bodies(&message, None).unwrap();
            assert!(text.contains(evil), "{name}: text parts are plain text");
            assert!(!html.contains("<b>"), "{name}: {html}");
            assert!(
                html.contains("&lt;b&gt;") || html.contains("&#60;b&#62;"),
                "{name}: {html}"
            );
        }
    }
}
