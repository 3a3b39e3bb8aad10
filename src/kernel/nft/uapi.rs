//! The numbers of nf_tables' netlink interface that vnet reads, named as in
//! linux/netfilter/nf_tables.h (and nfnetlink_compat's xt match), in one
//! place: the decoder uses these names, never bare numbers.

/// enum nf_tables_msg_types: the dumps vnet asks for.
pub(super) const NFT_MSG_GETTABLE: u8 = 1;
pub(super) const NFT_MSG_GETCHAIN: u8 = 4;
pub(super) const NFT_MSG_GETRULE: u8 = 7;

/// enum nft_table_attributes.
pub(super) const NFTA_TABLE_NAME: u16 = 1;

/// enum nft_chain_attributes.
pub(super) const NFTA_CHAIN_TABLE: u16 = 1;
pub(super) const NFTA_CHAIN_NAME: u16 = 3;
pub(super) const NFTA_CHAIN_HOOK: u16 = 4;
pub(super) const NFTA_CHAIN_POLICY: u16 = 5;
pub(super) const NFTA_CHAIN_TYPE: u16 = 7;
pub(super) const NFTA_CHAIN_COUNTERS: u16 = 8;

/// enum nft_hook_attributes.
pub(super) const NFTA_HOOK_HOOKNUM: u16 = 1;
pub(super) const NFTA_HOOK_PRIORITY: u16 = 2;
pub(super) const NFTA_HOOK_DEV: u16 = 3;

/// enum nft_counter_attributes (a chain's counters and the counter expression).
pub(super) const NFTA_COUNTER_BYTES: u16 = 1;
pub(super) const NFTA_COUNTER_PACKETS: u16 = 2;

/// enum nft_rule_attributes.
pub(super) const NFTA_RULE_TABLE: u16 = 1;
pub(super) const NFTA_RULE_CHAIN: u16 = 2;
pub(super) const NFTA_RULE_HANDLE: u16 = 3;
pub(super) const NFTA_RULE_EXPRESSIONS: u16 = 4;

/// enum nft_list_attributes.
pub(super) const NFTA_LIST_ELEM: u16 = 1;

/// enum nft_expr_attributes.
pub(super) const NFTA_EXPR_NAME: u16 = 1;
pub(super) const NFTA_EXPR_DATA: u16 = 2;

/// enum nft_data_attributes.
pub(super) const NFTA_DATA_VALUE: u16 = 1;
pub(super) const NFTA_DATA_VERDICT: u16 = 2;

/// enum nft_verdict_attributes.
pub(super) const NFTA_VERDICT_CODE: u16 = 1;
pub(super) const NFTA_VERDICT_CHAIN: u16 = 2;

/// enum nft_immediate_attributes.
pub(super) const NFTA_IMMEDIATE_DREG: u16 = 1;
pub(super) const NFTA_IMMEDIATE_DATA: u16 = 2;

/// enum nft_cmp_attributes.
pub(super) const NFTA_CMP_SREG: u16 = 1;
pub(super) const NFTA_CMP_OP: u16 = 2;
pub(super) const NFTA_CMP_DATA: u16 = 3;

/// enum nft_meta_attributes.
pub(super) const NFTA_META_DREG: u16 = 1;
pub(super) const NFTA_META_KEY: u16 = 2;

/// enum nft_payload_attributes.
pub(super) const NFTA_PAYLOAD_DREG: u16 = 1;
pub(super) const NFTA_PAYLOAD_BASE: u16 = 2;
pub(super) const NFTA_PAYLOAD_OFFSET: u16 = 3;
pub(super) const NFTA_PAYLOAD_LEN: u16 = 4;

/// enum nft_ct_attributes.
pub(super) const NFTA_CT_DREG: u16 = 1;
pub(super) const NFTA_CT_KEY: u16 = 2;

/// enum nft_bitwise_attributes.
pub(super) const NFTA_BITWISE_SREG: u16 = 1;
pub(super) const NFTA_BITWISE_DREG: u16 = 2;
pub(super) const NFTA_BITWISE_LEN: u16 = 3;
pub(super) const NFTA_BITWISE_MASK: u16 = 4;
pub(super) const NFTA_BITWISE_XOR: u16 = 5;
pub(super) const NFTA_BITWISE_OP: u16 = 6;

/// enum nft_lookup_attributes, and its flag.
pub(super) const NFTA_LOOKUP_SET: u16 = 1;
pub(super) const NFTA_LOOKUP_SREG: u16 = 2;
pub(super) const NFTA_LOOKUP_FLAGS: u16 = 5;
pub(super) const NFT_LOOKUP_F_INV: u32 = 1;

/// enum nft_match_attributes (xt matches of iptables-nft).
pub(super) const NFTA_MATCH_NAME: u16 = 1;
pub(super) const NFTA_MATCH_REV: u16 = 2;
pub(super) const NFTA_MATCH_INFO: u16 = 3;
/// enum nft_reject_attributes; enum nft_reject_types.
pub(super) const NFTA_REJECT_TYPE: u16 = 1;
pub(super) const NFTA_REJECT_ICMP_CODE: u16 = 2;
/// enum nft_target_attributes (an xtables target run through nft_compat).
pub(super) const NFTA_TARGET_NAME: u16 = 1;
pub(super) const NFTA_TARGET_REV: u16 = 2;
pub(super) const NFTA_TARGET_INFO: u16 = 3;
/// enum nft_nat_attributes.
pub(super) const NFTA_NAT_TYPE: u16 = 1;
pub(super) const NFTA_NAT_FAMILY: u16 = 2;
pub(super) const NFTA_NAT_REG_ADDR_MIN: u16 = 3;
pub(super) const NFTA_NAT_REG_PROTO_MIN: u16 = 5;
/// enum nft_redir_attributes (and nft_masq's, the same numbers).
pub(super) const NFTA_REDIR_REG_PROTO_MIN: u16 = 1;
