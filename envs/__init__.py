"""defigym environments; importing this package registers the env ids with Gymnasium."""
from gymnasium.envs.registration import register

register(id="defigym/UniswapV3LP-v0", entry_point="envs.uniswap_v3_lp:UniswapV3LPEnv",
         vector_entry_point="envs.uniswap_v3_lp:UniswapV3LPVectorEnv", max_episode_steps=None)
register(id="defigym/CexDexArbitrage-v0", entry_point="envs.cex_dex_arbitrage:CexDexArbitrageEnv",
         vector_entry_point="envs.cex_dex_arbitrage:CexDexArbitrageVectorEnv", max_episode_steps=None)
register(id="defigym/AaveLeverage-v0", entry_point="envs.aave_leverage:AaveLeverageEnv",
         vector_entry_point="envs.aave_leverage:AaveLeverageVectorEnv", max_episode_steps=None)
register(id="defigym/AaveLiquidator-v0", entry_point="envs.aave_liquidator:AaveLiquidatorEnv",
         vector_entry_point="envs.aave_liquidator:AaveLiquidatorVectorEnv", max_episode_steps=None)
register(id="defigym/UniswapV2LP-v0", entry_point="envs.uniswap_v2_lp:UniswapV2LPEnv",
         vector_entry_point="envs.uniswap_v2_lp:UniswapV2LPVectorEnv", max_episode_steps=None)
