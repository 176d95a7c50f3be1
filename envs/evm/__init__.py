"""EVM backends behind one ``Chain`` interface: pyrevm in process (``revm``), anvil (``anvil``) and any
node's JSON-RPC (``rpc``), with ABI encoding (``abi``). Imports nothing of the project above it."""
