-- A partner follows its gifts by its own reference (partnerDonations with
-- filter.partnerReference): looked for among all the partner's gifts, that read grew with the
-- event, to hundreds of thousands of rows at 3,000,000 donations (issue 14).

-- +goose Up
CREATE INDEX donations_partner_reference_idx ON donations (partner_id, partner_reference, created_at DESC, id DESC)
    WHERE partner_reference IS NOT NULL;

-- +goose Down
DROP INDEX donations_partner_reference_idx;
