"""Business logic; routers stay thin. Services commit their own transactions."""
