"""Operations on orders, legs and imports. `legs` records legs from any source; `imports`
reads files through a column mapping into `legs`."""
